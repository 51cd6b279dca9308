#include "trainer/cli/flicker-command.h"

#include "trainer/report/flicker.h"

#include <iostream>
#include <memory>

namespace cg {

namespace {

struct FlickerCommand {
  FlickerOptions videos;
  std::string plot;
  bool json = false;
};

}  // namespace

void add_flicker_command(CLI::App& app) {
  auto o = std::make_shared<FlickerCommand>();
  auto* cmd = app.add_subcommand(
      "flicker",
      "Measure how much a translated video flickers: the warping error (Lai et al. 2018) of OUT along the optical "
      "flow of IN, beside IN's own, and with --reference the PSNR of OUT to another translation");
  cmd->add_option("--input", o->videos.input, "the video that was translated (a file, or frames/%04d.png)")->required();
  cmd->add_option("--output", o->videos.output, "its translation, to measure")->required();
  cmd->add_option("--reference", o->videos.reference,
                  "another translation of the input (e.g. the per-frame one) to compare with by PSNR");
  cmd->add_option("--plot", o->plot, "write the per-frame warping error as a PNG");
  cmd->add_flag("--json", o->json, "print the figures as JSON");
  cmd->callback([o] {
    const FlickerReport r = measure_flicker(o->videos);
    if (!o->plot.empty()) r.plot(o->plot);
    std::cout << (o->json ? r.to_json() + "\n" : r.to_text());
  });
}

}  // namespace cg
