// The student architectures `cg-trainer distill --student` names: one list, from which the
// option's help, its error message and the students' generators all derive.
#pragma once

#include "model/generator-layout.h"

#include <cstdint>
#include <string>
#include <vector>

namespace cg {

// Chosen by measured speed and fidelity (README). --student-ngf, --student-blocks, --student-block
// and --student-s2d change ngf, blocks, mobile and space_to_depth.
struct StudentPreset {
  const char* name;
  int64_t ngf;
  int64_t blocks;
  bool mobile;
  int64_t space_to_depth = 1;
};
const std::vector<StudentPreset>& student_presets();

// The preset called `name`, or nullptr.
const StudentPreset* find_student_preset(const std::string& name);
// The preset's generator as it is, without the --student-* changes.
GeneratorOptions preset_generator(const StudentPreset& p);
// "fast, tiny or nano": for messages.
std::string student_preset_names();
// "student preset: fast (resnet_6blocks, ngf 16) | …": the option's help, kept for the program's life.
const std::string& student_presets_help();

}  // namespace cg
