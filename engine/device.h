// The one parser of device names, shared by the element, cg-trainer and the benchmark.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace cg {

// "auto" (CUDA device 0 when LibTorch sees a GPU, else the CPU), "cpu", "cuda" or "cuda:N".
// Throws Error(kSettings) naming the device for a malformed name or a GPU that is not there.
// `fallback_note`, when given, is set to a sentence when "auto" falls back to the CPU.
c10::Device parse_device(const std::string& name, std::string* fallback_note = nullptr);

// Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX). Without it oneDNN emulates
// bf16 through fp32 conversions and bf16 runs several times slower than fp32.
bool cpu_has_native_bf16();

// The sentence to warn with when bf16 is asked of a CPU without native support; empty otherwise.
std::string bf16_cpu_warning();

}  // namespace cg
