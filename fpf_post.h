/* fpf_post.h - v0.1 - post-processing for fpf.h: label images.   SPDX-License-Identifier: MIT
   #define FPF_POST_IMPLEMENTATION (or FPF_ALL_IMPLEMENTATION) in one file. Needs fpf.h. */
#ifndef FPF_POST_H_INCLUDED
#define FPF_POST_H_INCLUDED
#include "fpf.h"
#endif
