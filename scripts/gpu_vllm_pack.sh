#!/usr/bin/env bash
# Pack vLLM 0.26.0 and what it needs beyond the lent GPU machines' image (PyTorch 2.11+cu130, transformers, numpy,
# triton, ...; /work/.library/device/KINDS.md lists it) into two parts of < 61 MiB each, the most one transfer to
# that machine carries: how results/calibration/vllm_h200_runs.csv got vLLM onto a machine without network.
#   bash scripts/gpu_vllm_pack.sh FOLDER        # writes FOLDER/part.00 and FOLDER/part.01
# On the machine, after each part has arrived (each in its own call, the machine kept warm in between):
#   mkdir -p /root/site && cat part.00 part.01 | xz -d -T16 | tar -C /root/site -x
#   PYTHONPATH=/root/site bash scripts/gpu_vllm_sweep.sh "$OUT" $(( $(date +%s) + 420 ))
# vLLM 0.26 is the last release built on PyTorch 2.11 (0.27 needs 2.13, which is not there). Left out of its wheel:
# the FlashAttention-2 kernels (Hopper runs FlashAttention 3; vLLM imports FA2 only if present), the Rust front
# end binary, Blackwell FMHA sources and DeepGEMM builds for other Pythons; of the dependencies, the bundled
# Mistral tokenizer files and pycountry's translations, none of which a token-id benchmark loads.
set -euo pipefail
out=$(realpath -m "${1:?output folder}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_26_x86_64
           --platform manylinux_2_24_x86_64 --platform manylinux_2_31_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64)
pip_target() {
    python3 -m pip install -q --no-deps --no-compile --target "$work/site" --python-version 3.12 \
        --implementation cp --only-binary=:all: "${platforms[@]}" "$@"
}
pip_target vllm==0.26.0 annotated-types==0.8.0 apache-tvm-ffi==0.1.15.post2 astor==0.8.1 blake3==1.0.11 \
    cachetools==8.0.2 cbor2==6.3.0 compressed-tensors==0.17.0 depyf==0.20.0 dill==0.4.1 docstring-parser==0.18.0 \
    fastapi==0.136.3 httpcore2==2.16.2 httpx2==2.16.2 ijson==3.6.0 interegular==0.3.3 jiter==0.19.0 \
    jsonschema==4.26.0 jsonschema-specifications==2025.9.1 lark==1.2.2 llguidance==1.7.6 \
    lm-format-enforcer==0.11.3 loguru==0.7.3 mistral-common==1.13.1 msgspec==0.22.0 nvtx==0.2.15 openai==3.57.0 \
    openai-harmony==0.0.8 outlines-core==0.2.14 partial-json-parser==0.2.1.1.post7 \
    prometheus-fastapi-instrumentator==8.1.0 pybase64==1.5.1 pycountry==26.2.16 pydantic==2.14.4 \
    pydantic-core==2.50.5 pydantic-extra-types==2.11.1 python-json-logger==4.2.0 python-multipart==0.0.34 \
    pyzmq==27.3.0 referencing==0.37.0 rpds-py==2026.9.1 setproctitle==1.3.8 sniffio==1.3.1 sse-starlette==3.7.0 \
    starlette==1.10.0 typing-inspection==0.4.5 uvicorn==0.54.0 watchfiles==1.3.0 xgrammar==0.2.8
site=$work/site
rm -rf "$site/vllm/vllm_flash_attn/_vllm_fa2_C.abi3.so" "$site/vllm/vllm-rs" "$site/vllm/third_party/fmha_sm100" \
    "$site/vllm/entrypoints/serve/instrumentator/static" "$site/mistral_common/data/"* "$site/pycountry/locales" \
    "$site/bin"
rm -f "$site"/vllm/third_party/deep_gemm/_C.cpython-31[0134]-*.so
mkdir -p "$out"
tar -C "$site" -cf - . | xz -T0 -9 > "$work/site.tar.xz"
split -n 2 -d "$work/site.tar.xz" "$out/part."
ls -l "$out"
