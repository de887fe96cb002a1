# --- training (#6) ---
# Trained models (weights/models/*.fpf), their training, scoring and demos. weights/train/README.md
# documents the configuration, schedule and results; every rule here runs from the repository root.
#   make train-cores            retrain the nucleus model from scratch (build/retrain/cores), export it
#   make train-fpf_add_weighted retrain a cell model (needs the nucleus model's checkpoint for FPF)
#   make resume-NAME            continue an interrupted run in build/train/NAME (same schedule)
#   make export-NAME            build/train/NAME/ckpt.pt -> weights/models/NAME.fpf
#   make models-eval            score every shipped model with the C kit (test, clustered, real nuclei)
#   make models-check           models-eval, then compare with weights/train/results.json (tolerance)
#   make demo-models            shipped models on a synthetic 2-channel field: labels, CSV, overlay
#   make demo-real              shipped models on the real 2-channel images of ../shared/data -> build/
TRAIN_PY    ?= nice -n 10 $(PY)
TRAIN_THREADS ?= 1
TRAIN_CELLS := without_nucleus with_nucleus fpf_add fpf_concat fpf_add_weighted fpf_concat_weighted
TRAIN_ALL   := cores $(TRAIN_CELLS)
# per-model arguments (schedule: weights/train/README.md)
TRAIN_ARGS_cores               := --variant cores --iters 1500 --aug strong
TRAIN_ARGS_without_nucleus     := --variant without_nucleus --iters 3000 --aug strong
TRAIN_ARGS_with_nucleus        := --variant with_nucleus --iters 3000 --aug strong
TRAIN_ARGS_fpf_add             := --variant fpf_add --iters 3000 --aug strong
TRAIN_ARGS_fpf_concat          := --variant fpf_concat --iters 3000 --aug strong
TRAIN_ARGS_fpf_add_weighted    := --variant fpf_add --weighted --iters 3000 --aug strong
TRAIN_ARGS_fpf_concat_weighted := --variant fpf_concat --weighted --iters 3000 --aug strong
TRAIN_SEED  ?= 1
# FPF variants take the frozen nucleus tower from this model (a cores checkpoint or .fpf; train.py --nucleus)
NUCLEUS_CKPT_train   ?= weights/models/cores.fpf
NUCLEUS_CKPT_retrain ?= build/retrain/cores/ckpt.pt
train_nuc = $(if $(findstring fpf_,$(1)),--nucleus $(NUCLEUS_CKPT_$(2)))

$(addprefix train-,$(TRAIN_ALL)): train-%: build/fpf_synth build/fpf_segment build/fpf_eval
	rm -rf build/retrain/$*
	$(TRAIN_PY) weights/train/train.py $(TRAIN_ARGS_$*) $(call train_nuc,$*,retrain) --seed $(TRAIN_SEED) \
	    --threads $(TRAIN_THREADS) --out build/retrain/$*
	$(PY) weights/train/export.py build/retrain/$*/ckpt.pt build/retrain/$*.fpf
	$(PY) weights/train/evaluate.py --model build/retrain/$*.fpf --set test

$(addprefix resume-,$(TRAIN_ALL)): resume-%: build/fpf_synth
	$(TRAIN_PY) weights/train/train.py $(TRAIN_ARGS_$*) $(call train_nuc,$*,train) --seed $(TRAIN_SEED) \
	    --threads $(TRAIN_THREADS) --out build/train/$* --resume

$(addprefix export-,$(TRAIN_ALL)): export-%:
	@mkdir -p weights/models
	$(PY) weights/train/export.py build/train/$*/ckpt.pt weights/models/$*.fpf

models-eval: build/fpf_synth build/fpf_segment build/fpf_eval
	$(PY) weights/train/results.py --eval --out build/eval/results.json

models-check: models-eval
	$(PY) weights/train/results.py --check build/eval/results.json weights/train/results.json

demo-models: build/fpf_synth build/fpf_segment
	@mkdir -p build/demo_models
	build/fpf_synth --out build/demo_models/scene --seed 1003 --quiet
	build/fpf_segment --model weights/models/fpf_add.fpf --nucleus-model weights/models/cores.fpf \
	    --nucleus build/demo_models/scene/synth_1003_nucleus.tif --cell build/demo_models/scene/synth_1003_cell.tif \
	    --out build/demo_models/out --overlay

demo-real: build/fpf_segment
	sh weights/train/demo_real.sh

.PHONY: $(addprefix train-,$(TRAIN_ALL)) $(addprefix resume-,$(TRAIN_ALL)) $(addprefix export-,$(TRAIN_ALL)) \
    models-eval models-check demo-models demo-real
# --- end training (#6) ---

# --- converter (#5) ---
# The authors' Keras weights (.h5, inside their zips) -> .fpf: weights/convert_keras.py; the proof that it is
# exact and refuses what it does not understand: weights/check_convert.py (docs/using_published_models.md).
#   make check-convert          writer identity, 7 Keras-layout files at the paper config converted and run
#                               at parity (test_parity --model --fixture), every refusal case (~10 min)
#   make check-convert-quick    writer identity and the refusal cases only (~1 min)
#   make convert-published H5DIR=dir   convert every published .h5 found in dir to build/published/*.fpf
CONVERT_PY ?= nice -n 5 $(PY)
H5DIR      ?= .
PUBLISHED  := cores without_nucleus with_nucleus fpf_add fpf_concat fpf_add_weighted fpf_concat_weighted

check-convert: build/fpf_mkmodel build/tests/test_parity
	$(CONVERT_PY) weights/check_convert.py

check-convert-quick: build/fpf_mkmodel
	$(CONVERT_PY) weights/check_convert.py --skip-parity

convert-published:
	@mkdir -p build/published
	@for m in $(PUBLISHED); do \
	  if [ -f $(H5DIR)/$$m.h5 ]; then $(CONVERT_PY) weights/convert_keras.py $(H5DIR)/$$m.h5 build/published/$$m.fpf || exit 1; \
	  else echo "convert-published: no $(H5DIR)/$$m.h5, skipped"; fi; \
	done

.PHONY: check-convert check-convert-quick convert-published
# --- end converter (#5) ---

# --- int8 reference parity (#11) ---
#   make int8-ref [INT8_REF_CONFIG=tiny|paper] [INT8_REF_VARIANTS="fpf_add ..."]   each seeded model ->
#   fpf_quantize (on a synthetic training scene) -> the C kit's intermediate maps (build/int8_dump) ->
#   weights/reference/int8_ref.py recomputes them from the documented int8 formula in numpy: C3..C5, each
#   tower's P2..P5 and the fused F2..F6 bit for bit, the RPN and head outputs (fp32 output layers) within
#   1e-4; then again with every zero point moved by one step, where every comparison must fail.
#   Needs /usr/bin/python3 with numpy.
INT8_REF_CONFIG   ?= tiny
INT8_REF_VARIANTS ?= fpf_add fpf_concat with_nucleus without_nucleus cores
INT8_REF_DIR      := build/int8_ref
build/int8_dump: weights/reference/int8_dump.c fpf.h examples/fpf_image.h
	@mkdir -p build
	$(CC) $(CFLAGS) -I. -Iexamples $< -o $@ $(LDLIBS)

int8-ref: build/int8_dump build/fpf_mkmodel build/fpf_quantize build/fpf_synth
	@mkdir -p $(INT8_REF_DIR)
	build/fpf_synth --set train --count 2 --width 640 --height 512 --out $(INT8_REF_DIR)/train --quiet
	@set -e; d=$(INT8_REF_DIR); for v in $(INT8_REF_VARIANTS); do \
	  echo "== int8 reference: $$v ($(INT8_REF_CONFIG))"; rm -rf $$d/$$v; mkdir -p $$d/$$v/dump; \
	  build/fpf_mkmodel --config $(INT8_REF_CONFIG) --variant $$v --out $$d/$$v/model.fpf; \
	  case $$v in cores) cal=$$d/train/train_00000_nucleus.tif;; without_nucleus) cal=$$d/train/train_00000_cell.tif;; \
	    *) cal=$$d/train/train_00000_cell.tif,$$d/train/train_00000_nucleus.tif;; esac; \
	  build/fpf_quantize --model $$d/$$v/model.fpf --out $$d/$$v/model_int8.fpf --calib $$cal; \
	  build/int8_dump $$d/$$v/model_int8.fpf $$d/train/train_00001_cell.tif $$d/train/train_00001_nucleus.tif $$d/$$v/dump; \
	  $(PY) weights/reference/int8_ref.py $$d/$$v/model_int8.fpf $$d/$$v/dump; \
	  $(PY) weights/reference/int8_ref.py $$d/$$v/model_int8.fpf $$d/$$v/dump --must-fail | tail -1; \
	done

.PHONY: int8-ref
# --- end int8 reference parity (#11) ---

# --- real data (#12): weights/train/README.md "Real data" ---
#   make real-split             the fixed validation split of dsb2018_train_fluo -> build/real_data/{train,val}
#   make real-semi              semi-synthetic examples (real nuclei, rendered cells) -> build/real_data/semi
#   make train-real             the whole real-data schedule, resumable (hours: see the README)
#   make measure-real MODEL=M   a nucleus model on dsb2018_test_fluo (AP, accuracy, F1; 1000 detections)
#   make finetune-real          the six cell models fine-tuned from the shipped ones on the real-nuclei mix (~1 h)
#   make finetune-results       score them, the shipped and the from-scratch ones (synthetic, held-out real nuclei)
real-split:
	$(PY) weights/train/real.py split

real-semi:
	$(PY) weights/train/real.py semi --count 8

train-real: build/fpf_synth build/fpf_segment build/fpf_eval
	@mkdir -p build/real
	sh weights/train/schedule_real.sh 2>&1 | tee -a build/real/schedule.log

MODEL ?= weights/models/cores.fpf
measure-real: build/fpf_segment build/fpf_eval
	$(PY) weights/train/measure_real.py --model $(MODEL) --threads $(TRAIN_THREADS)

finetune-real: build/fpf_synth build/fpf_segment build/fpf_eval build/fpf_quantize
	@mkdir -p build/real_ft
	sh weights/train/finetune_real.sh 2>&1 | tee -a build/real_ft/finetune.log

finetune-results: build/fpf_synth build/fpf_segment build/fpf_eval build/fpf_quantize
	$(PY) weights/train/finetune_results.py --int8

.PHONY: real-split real-semi train-real measure-real finetune-real finetune-results
