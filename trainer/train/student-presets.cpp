#include "trainer/train/student-presets.h"

#include <algorithm>

namespace cg {

const std::vector<StudentPreset>& student_presets() {
  static const std::vector<StudentPreset> presets = {
      {"fast", 16, 6, false},
      {"tiny", 16, 9, true},
      // Never convolves at full resolution (see GeneratorOptions::space_to_depth): the layers
      // that bound tiny's speed there are gone; its trunk is tiny's, with fewer blocks. Folded
      // by 2, not 4: with one convolution each side of the trunk (the fold by 4) it stayed
      // 3.6 dB further from the teacher after the same training.
      {"nano", 16, 6, true, 2},
  };
  return presets;
}

const StudentPreset* find_student_preset(const std::string& name) {
  const auto& all = student_presets();
  const auto it = std::find_if(all.begin(), all.end(), [&](const StudentPreset& p) { return name == p.name; });
  return it == all.end() ? nullptr : &*it;
}

GeneratorOptions preset_generator(const StudentPreset& p) {
  GeneratorOptions g;
  g.ngf = p.ngf;
  g.n_blocks = p.blocks;
  g.mobile = p.mobile;
  g.space_to_depth = p.space_to_depth;
  return g;
}

std::string student_preset_names() {
  const auto& all = student_presets();
  std::string s;
  for (size_t i = 0; i < all.size(); ++i)
    s += std::string(i == 0 ? "" : i + 1 == all.size() ? " or " : ", ") + all[i].name;
  return s;
}

const std::string& student_presets_help() {
  static const std::string help = [] {
    std::string s = "student preset:";
    for (const StudentPreset& p : student_presets())
      s += std::string(s.back() == ':' ? " " : " | ") + p.name + " (" + architecture_name(preset_generator(p)) +
           ", ngf " + std::to_string(p.ngf) + ")";
    return s;
  }();
  return help;
}

}  // namespace cg
