#include "test-command.h"

#include "device.h"
#include "image-io.h"
#include "inference.h"
#include "model-file.h"
#include "options.h"
#include "preprocess.h"
#include "report.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>

namespace cg {

namespace fs = std::filesystem;

namespace {

struct TestOptions {
  std::string model, input, output, device = "auto";
  int64_t load_size = 0;
};

void run_test(const TestOptions& o) {
  const c10::Device device = resolve_device(o.device);
  std::vector<std::string> files;
  try {
    files = list_images(o.input);
  } catch (const ImageError& e) {
    throw TrainError(std::string("--input ") + e.what());
  }
  if (files.empty()) throw TrainError(o.input + ": no images (jpg, jpeg, png, bmp or webp)");
  LoadedModel g;
  try {
    g = load_generator(o.model, device);
  } catch (const ModelFileError& e) {
    throw TrainError(e.what());
  }
  const fs::path out(o.output), inputs = out / "inputs";
  std::error_code ec;
  fs::create_directories(inputs, ec);
  if (ec) throw TrainError(o.output + ": cannot create (" + ec.message() + ")");
  std::set<std::string> used;
  std::ostringstream rows;
  int done = 0, failed = 0;
  for (const auto& f : files) {
    cv::Mat rgb;
    try {
      rgb = read_rgb(f);
    } catch (const ImageError& e) {
      std::cerr << "cg-trainer: skipped " << e.what() << "\n";
      ++failed;
      continue;
    }
    // At test time the official code loads at load_size = crop_size, square.
    if (o.load_size > 0) rgb = resize_image(rgb, static_cast<int>(o.load_size), static_cast<int>(o.load_size));
    std::string stem = fs::path(f).stem().string();
    for (int k = 1; used.count(stem); ++k) stem = fs::path(f).stem().string() + "-" + std::to_string(k);
    used.insert(stem);
    const cv::Mat y = translate_image(g.module, rgb, device);
    try {
      write_rgb((out / (stem + ".png")).string(), y);
      write_rgb((inputs / (stem + ".png")).string(), rgb);
    } catch (const ImageError& e) {
      throw TrainError(e.what());
    }
    rows << "<tr><td><img src=\"inputs/" << html_escape(stem) << ".png\"></td><td><img src=\"" << html_escape(stem)
         << ".png\"></td><td>" << html_escape(fs::path(f).filename().string()) << "</td></tr>\n";
    ++done;
  }
  std::ofstream html(out / "index.html", std::ios::trunc);
  html << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>cg-trainer test</title>"
          "<style>body{font-family:sans-serif} img{max-width:384px}</style></head><body>\n<h1>"
       << html_escape(fs::path(o.model).filename().string()) << " on " << html_escape(o.input)
       << "</h1>\n<table><tr><th>input</th><th>output</th><th>file</th></tr>\n"
       << rows.str() << "</table></body></html>\n";
  if (!html) throw TrainError((out / "index.html").string() + ": cannot write");
  std::cout << "translated " << done << " image(s) into " << o.output << (failed ? ", skipped " + std::to_string(failed) + " unreadable" : "")
            << "; see " << (out / "index.html").string() << "\n";
  if (done == 0) throw TrainError(o.input + ": none of the images could be read");
}

}  // namespace

void add_test_command(CLI::App& app) {
  auto o = std::make_shared<TestOptions>();
  auto* cmd = app.add_subcommand("test", "Translate a folder of images with a G.pt generator and write an index.html");
  cmd->add_option("--model", o->model, "generator model file (G_A.pt or G_B.pt)")->required();
  cmd->add_option("--input", o->input, "folder of images")->required();
  cmd->add_option("--output", o->output, "folder for the results")->required();
  cmd->add_option("--load-size,--load_size", o->load_size,
                  "resize to this square size first (0: native size, padded to a multiple of 4)")
      ->check(CLI::Range(int64_t{0}, int64_t{16384}))->capture_default_str();
  cmd->add_option("--device", o->device, "cpu | cuda | cuda:N | auto")->capture_default_str();
  cmd->callback([o] { run_test(*o); });
}

}  // namespace cg
