#include "trainer/cli/test-command.h"

#include "common/atomic-file.h"
#include "common/defaults.h"
#include "common/error.h"
#include "engine/cv-frame.h"
#include "trainer/data/image-io.h"
#include "trainer/data/preprocess.h"
#include "trainer/report/report.h"

#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

namespace cg {

namespace fs = std::filesystem;

namespace {

struct TestOptions {
  std::string model, input, output, device = kDefaultDevice;
  int64_t load_size = 0;
};

void run_test(const TestOptions& o) {
  std::vector<std::string> files;
  try {
    files = list_images(o.input);
  } catch (const Error& e) {
    throw Error(ErrorKind::kUsage, std::string("--input ") + e.what());
  }
  if (files.empty()) throw Error(ErrorKind::kUsage, o.input + ": no images (jpg, jpeg, png, bmp or webp)");
  EngineOptions engine_options;
  engine_options.model_path = o.model;
  engine_options.device = o.device;
  Engine engine(engine_options);
  const fs::path out(o.output), inputs = out / "inputs";
  std::error_code ec;
  fs::create_directories(inputs, ec);
  if (ec) throw Error(ErrorKind::kIo, o.output + ": cannot create the output folder (" + ec.message() + ")");
  std::set<std::string> used;
  std::ostringstream rows;
  int done = 0, failed = 0;
  for (const auto& f : files) {
    cv::Mat rgb;
    try {
      rgb = read_rgb(f);
    } catch (const Error& e) {
      std::cerr << "cg-trainer: skipped " << e.what() << "\n";
      ++failed;
      continue;
    }
    // At test time the official code loads at load_size = crop_size, square.
    if (o.load_size > 0) rgb = resize_image(rgb, static_cast<int>(o.load_size), static_cast<int>(o.load_size));
    std::string stem = fs::path(f).stem().string();
    for (int k = 1; used.count(stem); ++k) stem = fs::path(f).stem().string() + "-" + std::to_string(k);
    used.insert(stem);
    const cv::Mat y = translate_image(engine, rgb);
    write_rgb((out / (stem + ".png")).string(), y);
    write_rgb((inputs / (stem + ".png")).string(), rgb);
    rows << "<tr><td><img src=\"inputs/" << html_escape(stem) << ".png\"></td><td><img src=\"" << html_escape(stem)
         << ".png\"></td><td>" << html_escape(fs::path(f).filename().string()) << "</td></tr>\n";
    ++done;
  }
  write_file_atomically(
      (out / "index.html").string(),
      html_page(fs::path(o.model).filename().string() + " on " + o.input, "img{max-width:384px}",
                "<table><tr><th>input</th><th>output</th><th>file</th></tr>\n" + rows.str() + "</table>\n"));
  std::cout << "translated " << done << " image(s) into " << o.output
            << (failed ? ", skipped " + std::to_string(failed) + " unreadable" : "") << "; see "
            << (out / "index.html").string() << "\n";
  if (done == 0) throw Error(ErrorKind::kUsage, o.input + ": none of the images could be read");
}

}  // namespace

void add_test_command(CLI::App& app) {
  auto o = std::make_shared<TestOptions>();
  auto* cmd = app.add_subcommand("test", "Translate a folder of images with a G.pt generator and write an index.html");
  cmd->add_option("--model", o->model, "generator model file (G_A.pt or G_B.pt)")->required();
  cmd->add_option("--input", o->input, "folder of images")->required();
  cmd->add_option("--output", o->output, "folder for the results")->required();
  cmd->add_option("--load-size,--load_size", o->load_size,
                  "resize to this square size first (0: native size, replicate-padded to the model's multiple as the "
                  "element does)")
      ->check(CLI::Range(int64_t{0}, int64_t{16384}))
      ->capture_default_str();
  cmd->add_option("--device", o->device, "cpu | cuda | cuda:N | auto")->capture_default_str();
  cmd->callback([o] { run_test(*o); });
}

}  // namespace cg
