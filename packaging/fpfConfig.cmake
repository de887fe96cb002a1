# fpfConfig.cmake - find_package(fpf) for the header-only fpf kit.
#   find_package(fpf REQUIRED)
#   target_link_libraries(app PRIVATE fpf::fpf)   # include dir, -lm, threads
# Define FPF_IMPLEMENTATION (or FPF_ALL_IMPLEMENTATION) in exactly one source file.
# fpf_MODELS_DIR names the shipped models (share/fpf/models). Relocatable: paths follow this file.
get_filename_component(_fpf_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
include(CMakeFindDependencyMacro)
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_dependency(Threads)
if(NOT TARGET fpf::fpf)
  add_library(fpf::fpf INTERFACE IMPORTED)
  set_target_properties(fpf::fpf PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_fpf_prefix}/include"
    INTERFACE_LINK_LIBRARIES "m;Threads::Threads")
endif()
set(fpf_INCLUDE_DIRS "${_fpf_prefix}/include")
set(fpf_MODELS_DIR "${_fpf_prefix}/share/fpf/models")
unset(_fpf_prefix)
