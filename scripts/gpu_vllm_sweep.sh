#!/usr/bin/env bash
# The vLLM measurements of results/calibration/vllm_h200_runs.csv and vllm_h100_runs.csv on one lent GPU (see their
# READMEs): 1B, 8B and 70B (fp8) Llamas, Qwen3-8B and the Qwen3-30B-A3B MoE, at short, long and very long prompts and
# batches of 1 to 256, through scripts/gpu_vllm_bench.py. Each model runs in its own process (a clean GPU); a model
# that would start after DEADLINE is skipped and one still running at DEADLINE + 60 s is stopped, so what finished
# always comes back. CARD picks the plan: h200 (141 GB: the 70B fp8 with vLLM's defaults) or h100 (80 GB: the 70B fp8
# leaves ~4 GiB of KV, so it runs at 4K tokens per request and 0.95 of the card, and its big batches are KV-limited).
#   bash scripts/gpu_vllm_sweep.sh OUTPUT_FOLDER DEADLINE_UNIX_TIME [h200|h100]
set -u
out=${1:?output folder}
deadline=${2:?deadline as unix time}
card=${3:-h200}
mkdir -p "$out"
# FlashInfer is not installed on the lent machine (vLLM runs without it); its sampler is only used for requests
# with top-k/top-p, which these are not, so turning it off changes nothing measured.
export VLLM_USE_FLASHINFER_SAMPLER=0 HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 PYTHONUNBUFFERED=1

bench() {
    local name=$1
    shift
    local left=$((deadline - $(date +%s)))
    if [ "$left" -le 30 ]; then
        echo "$name: skipped (deadline)"
        return
    fi
    echo "$name: starting, ${left} s to the deadline"
    timeout $((left + 60)) python3 scripts/gpu_vllm_bench.py --output "$out/runs.csv" --deadline "$deadline" "$@" \
        > "$out/$name.log" 2>&1
    echo "$name: exit $?"
    grep -E "tok/s$|KV cache memory|Maximum concurrency|Error" "$out/$name.log" | tail -40
}

llama_8b=(--config configs/models/llama-3.1-8b.json --grid 128x128:1,4,16,64,256 --grid 1024x128:1,8,32,128
          --grid 4096x256:1,8,32 --grid 16384x128:1,4,16 --grid 32768x64:1,4)
llama_1b=(--config configs/models/llama-3.2-1b.json --grid 128x128:1,16,256 --grid 2048x128:1,32)
qwen_8b=(--config configs/models/qwen3-8b.json --grid 128x128:1,64 --grid 4096x256:1,16 --grid 16384x128:4)
case $card in
h200)
    bench llama-3.1-8b "${llama_8b[@]}"
    bench qwen3-30b-a3b --config configs/models/qwen3-30b-a3b.json --grid 128x128:1,8,64,256 \
        --grid 2048x128:1,16,64 --grid 16384x64:1,4
    bench llama-3.1-70b-fp8 --config configs/models/llama-3.1-70b.json --quantization fp8 \
        --grid 128x128:1,16,64,256 --grid 2048x128:1,8,32 --grid 8192x64:1,4
    bench llama-3.2-1b "${llama_1b[@]}"
    bench qwen3-8b "${qwen_8b[@]}"
    ;;
h100)
    bench llama-3.1-8b "${llama_8b[@]}"
    bench llama-3.1-70b-fp8 --config configs/models/llama-3.1-70b.json --quantization fp8 --max-model-len 4096 \
        --gpu-memory-utilization 0.95 --grid 128x128:1,16,64,256 --grid 2048x128:1,8,32
    bench llama-3.2-1b "${llama_1b[@]}"
    bench qwen3-8b "${qwen_8b[@]}"
    ;;
*)
    echo "unknown card $card (h200 or h100)" >&2
    exit 2
    ;;
esac
