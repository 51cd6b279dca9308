// The G.pt model file: export, load, parity with the Python reference, metadata, bad files.
#include "model/model-file.h"
#include "model/official-import.h"
#include "tests/generator-helpers.h"
#include "tests/test-helpers.h"

#include <gmock/gmock.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <sys/stat.h>
#include <fstream>

namespace cg {
namespace {

using test::error_of;
using test::fixture;
using ::testing::HasSubstr;

class G9 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    io_ = new NamedTensors(read_state_dict(fixture("g9-io.pth")));
    g_ = new Generator(import_official_generator(fixture("g9.pth")));
  }
  static void TearDownTestSuite() {
    delete io_;
    delete g_;
  }
  static at::Tensor io(const std::string& k) { return test::tensor_named(*io_, k); }
  static NamedTensors* io_;
  static Generator* g_;
};
NamedTensors* G9::io_ = nullptr;
Generator* G9::g_ = nullptr;

TEST_F(G9, CppModuleMatchesPythonReference) {
  torch::NoGradGuard no_grad;
  for (const char* size : {"256x256", "200x320"}) {
    auto x = io(std::string("input_") + size);
    EXPECT_LT(test::max_abs_diff((*g_)->forward(x), io(std::string("output_") + size)), 1e-4) << size;
  }
}

TEST_F(G9, ExportedModelMatchesPythonReference) {
  test::TempDir dir;
  auto meta = ModelMetadata::for_generator((*g_)->options());
  meta.direction = "BtoA";
  meta.crop_size = 128;
  meta.epochs_trained = 42;
  save_generator(*g_, meta, dir / "G.pt");
  auto m = load_generator(dir / "G.pt");
  ASSERT_TRUE(m.has_metadata);
  EXPECT_EQ(m.metadata.architecture(), "resnet_9blocks");
  EXPECT_EQ(m.metadata.generator.ngf, 64);
  EXPECT_EQ(m.metadata.direction, "BtoA");
  EXPECT_EQ(m.metadata.crop_size, 128);
  EXPECT_EQ(m.metadata.epochs_trained, 42);
  torch::NoGradGuard no_grad;
  for (const char* size : {"256x256", "200x320"}) {
    auto y = m.module.forward({io(std::string("input_") + size)}).toTensor();
    EXPECT_LT(test::max_abs_diff(y, io(std::string("output_") + size)), 1e-4) << size;
  }
  // Only the final file remains: the temporary one was renamed into place.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path), {}), 1);
}

TEST(ModelFile, SmallModelsRoundTripWithDropoutAndBatch) {
  test::TempDir dir;
  auto g = import_official_generator(fixture("g2-ngf8-dropout.pth"));
  save_generator(g, ModelMetadata::for_generator(g->options()), dir / "G.pt");
  auto m = load_generator(dir / "G.pt");
  EXPECT_EQ(m.metadata.architecture(), "resnet_2blocks");
  torch::NoGradGuard no_grad;
  auto x = torch::rand({3, 3, 12, 20}) * 2 - 1;
  EXPECT_LT(test::max_abs_diff(m.module.forward({x}).toTensor(), g->forward(x)), 1e-5);
}

TEST(ModelFile, MissingUnreadableAndCorruptFilesAreNamed) {
  test::TempDir dir;
  EXPECT_THAT(error_of([&] { load_generator(dir / "nope.pt"); }), HasSubstr("nope.pt: no such file"));
  EXPECT_THAT(error_of([&] { load_generator(dir.path.string()); }), HasSubstr("is a directory"));
  { std::ofstream(dir / "garbage.pt") << "definitely not a model"; }
  EXPECT_THAT(error_of([&] { load_generator(dir / "garbage.pt"); }),
              HasSubstr("garbage.pt: not a loadable TorchScript model"));

  auto g = import_official_generator(fixture("g2-ngf8-dropout.pth"));
  save_generator(g, ModelMetadata::for_generator(g->options()), dir / "G.pt");
  std::ifstream in(dir / "G.pt", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir / "half.pt", std::ios::binary).write(bytes.data(), bytes.size() / 2);
  EXPECT_THAT(error_of([&] { load_generator(dir / "half.pt"); }), HasSubstr("half.pt: not a loadable"));

  if (::geteuid() != 0) {  // root reads everything
    ::chmod((dir / "G.pt").c_str(), 0);
    EXPECT_THAT(error_of([&] { load_generator(dir / "G.pt"); }), HasSubstr("cannot open"));
  }
}

long peak_rss_kb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// Found by fuzz-model-file: a 19 KB G.pt whose data.pkl claims a 4 GB string made
// torch::jit::load allocate and fill 4 GB before failing.
TEST(ModelFile, HugeLengthInAPickleIsRefusedWithoutAllocating) {
  const std::string path = std::string(std::getenv("CG_REGRESSIONS")) + "/model-file-4gb-string.pt";
  const long before = peak_rss_kb();
  EXPECT_THAT(error_of([&] { load_generator(path); }), HasSubstr("data.pkl is not a well-formed pickle"));
  EXPECT_LT(peak_rss_kb() - before, 256 * 1024) << "KiB of peak memory for a 19 KB file";
}

// Found by fuzz-model-file: a debug_pkl whose LONG_BINPUT stores at memo index 0xffffffff made
// LibTorch's unpickler allocate a 5 GB memo.
TEST(ModelFile, HugeMemoIndexInAPickleIsRefusedWithoutAllocating) {
  const std::string path = std::string(std::getenv("CG_REGRESSIONS")) + "/model-file-huge-memo-index.pt";
  const long before = peak_rss_kb();
  EXPECT_THAT(error_of([&] { load_generator(path); }), HasSubstr(path + ": "));
  EXPECT_LT(peak_rss_kb() - before, 256 * 1024) << "KiB of peak memory for a 19 KB file";
}

// Found by fuzz-model-file in CI: TorchScript source with a syntax error makes LibTorch read the
// debug info to point at the line, and its reader crashed on a damaged debug_pkl. Debug info is
// never read now; this file has both faults (a '$' in the source, a debug_pkl of the wrong form).
TEST(ModelFile, BadSourceWithDamagedDebugInfoIsAnError) {
  const std::string path = std::string(std::getenv("CG_REGRESSIONS")) + "/model-file-bad-source-and-debug-info.pt";
  EXPECT_THAT(error_of([&] { load_generator(path); }), HasSubstr("not a loadable TorchScript model"));
}

TEST(ModelFile, WrongOutputShapeIsRefused) {
  test::TempDir dir;
  torch::jit::Module m("__torch__.OneChannel");
  m.define("def forward(self, x: Tensor) -> Tensor:\n    return x[:, :1]\n");
  m.save(dir / "one-channel.pt");
  EXPECT_THAT(error_of([&] { load_generator(dir / "one-channel.pt"); }),
              HasSubstr("forward maps 1x3x8x8 to [1, 1, 8, 8]"));
  torch::jit::Module half("__torch__.Halves");
  half.define("def forward(self, x: Tensor) -> Tensor:\n    return torch.max_pool2d(x, [2, 2])\n");
  half.save(dir / "halves.pt");
  EXPECT_THAT(error_of([&] { load_generator(dir / "halves.pt"); }), HasSubstr("must keep the shape"));
  torch::jit::Module boom("__torch__.Boom");
  boom.define("def forward(self, x: Tensor) -> Tensor:\n    return torch.conv2d(x, torch.zeros(3, 5, 3, 3))\n");
  boom.save(dir / "boom.pt");
  EXPECT_THAT(error_of([&] { load_generator(dir / "boom.pt"); }), HasSubstr("boom.pt: forward fails"));
}

TEST(ModelFile, ForeignTorchScriptGeneratorLoadsWithoutMetadata) {
  test::TempDir dir;
  torch::jit::Module m("__torch__.Identity");
  m.define("def forward(self, x: Tensor) -> Tensor:\n    return torch.tanh(x)\n");
  m.save(dir / "id.pt");
  auto loaded = load_generator(dir / "id.pt");
  EXPECT_FALSE(loaded.has_metadata);
}

// Official init plus noise (save_generator_of), so that every weight and bias matters.
TEST(ModelFile, MobileGeneratorRoundTrips) {
  torch::manual_seed(21);
  test::TempDir dir;
  GeneratorOptions o;
  o.ngf = 8;
  o.n_blocks = 3;
  o.mobile = true;
  auto g = test::save_generator_of(o, dir / "G.pt", 0.05);
  auto m = load_generator(dir / "G.pt");
  ASSERT_TRUE(m.has_metadata);
  EXPECT_EQ(m.metadata.architecture(), "mobile_resnet_3blocks");
  EXPECT_TRUE(m.metadata.generator.mobile);
  torch::NoGradGuard no_grad;
  for (auto x : {torch::rand({1, 3, 20, 28}), torch::rand({2, 3, 32, 32})}) {
    x = x * 2 - 1;
    EXPECT_LT(test::max_abs_diff(m.module.forward({x}).toTensor(), g->forward(x)), 1e-5);
  }
}

TEST(ModelFile, TrainableGeneratorRestoresEveryParameter) {
  torch::manual_seed(22);
  for (bool mobile : {false, true}) {
    test::TempDir dir;
    GeneratorOptions o;
    o.ngf = 8;
    o.n_blocks = 2;
    o.mobile = mobile;
    auto g = test::save_generator_of(o, dir / "G.pt", 0.05);
    auto t = trainable_generator(load_generator(dir / "G.pt"), dir / "G.pt");
    EXPECT_EQ(t->options().mobile, mobile);
    EXPECT_EQ(t->options().ngf, 8);
    EXPECT_EQ(t->options().n_blocks, 2);
    const auto want = g->named_parameters();
    const auto got = t->named_parameters();
    ASSERT_EQ(got.size(), want.size());
    for (const auto& p : want) {
      ASSERT_TRUE(got.contains(p.key())) << p.key();
      EXPECT_TRUE(torch::equal(got[p.key()], p.value())) << mobile << " " << p.key();
    }
    torch::NoGradGuard no_grad;
    auto x = torch::rand({1, 3, 20, 28}) * 2 - 1;
    EXPECT_LT(test::max_abs_diff(t->forward_training(x), g->forward_training(x)), 1e-6) << mobile;
    EXPECT_LT(test::max_abs_diff(t->forward(x), g->forward(x)), 1e-6) << mobile;
  }
}

TEST(ModelFile, TrainableGeneratorNeedsOurMetadataAndFittingWeights) {
  test::TempDir dir;
  torch::jit::Module m("__torch__.Identity");
  m.define("def forward(self, x: Tensor) -> Tensor:\n    return torch.tanh(x)\n");
  m.save(dir / "foreign.pt");
  EXPECT_THAT(error_of([&] { trainable_generator(load_generator(dir / "foreign.pt"), dir / "foreign.pt"); }),
              HasSubstr(dir / "foreign.pt: "));

  // Metadata that lies about the architecture: mobile blocks recorded for plain ones.
  GeneratorOptions o;
  o.ngf = 4;
  o.n_blocks = 1;
  Generator g(o);
  save_generator(g, ModelMetadata::for_generator(o), dir / "G.pt");
  auto lie = ModelMetadata::for_generator(o);
  lie.generator.mobile = true;
  save_with_metadata(dir / "G.pt", lie, dir / "lie.pt");
  EXPECT_THAT(error_of([&] { trainable_generator(load_generator(dir / "lie.pt"), dir / "lie.pt"); }),
              HasSubstr(dir / "lie.pt: "));
}

TEST(ModelFile, UnwritableTargetIsAnError) {
  GeneratorOptions o;
  o.ngf = 4;
  o.n_blocks = 1;
  Generator g(o);
  EXPECT_THAT(error_of([&] { save_generator(g, ModelMetadata::for_generator(o), "/nonexistent-dir/G.pt"); }),
              HasSubstr("/nonexistent-dir/G.pt: cannot write"));
}

TEST(ModelFile, FutureFormatVersionIsRefused) {
  EXPECT_THAT(error_of([] { ModelMetadata::from_json(R"({"format_version": 99})", "x.pt"); }),
              HasSubstr("x.pt: model format version 99 is not supported"));
  EXPECT_THAT(error_of([] { ModelMetadata::from_json("{", "y.pt"); }), HasSubstr("y.pt: bad metadata.json"));
}

// Every GeneratorOptions field reaches the file and comes back: a field left out of metadata.cpp's
// list would come back with its default here.
TEST(ModelFile, MetadataRecordsEveryGeneratorField) {
  GeneratorOptions o;
  o.family = Family::kUnet;
  o.input_nc = 1;
  o.output_nc = 2;
  o.ngf = 5;
  o.n_blocks = 7;
  o.use_dropout = true;
  o.mobile = true;
  o.norm = Norm::kInstanceAffine;
  o.antialias_down = o.antialias_up = o.upsample_conv = true;
  o.unet_downs = 6;
  auto m = ModelMetadata::for_generator(o);
  m.batch_stats = true;
  m.direction = "BtoA";
  m.crop_size = 96;
  m.epochs_trained = 3;
  m.source = "somewhere";
  m.teacher = "T.pt";
  const auto r = ModelMetadata::from_json(m.to_json(), "x.pt");
  const GeneratorOptions& g = r.generator;
  EXPECT_EQ(g.family, o.family);
  EXPECT_EQ(g.input_nc, o.input_nc);
  EXPECT_EQ(g.output_nc, o.output_nc);
  EXPECT_EQ(g.ngf, o.ngf);
  EXPECT_EQ(g.n_blocks, o.n_blocks);
  EXPECT_EQ(g.use_dropout, o.use_dropout);
  EXPECT_EQ(g.mobile, o.mobile);
  EXPECT_EQ(g.norm, o.norm);
  EXPECT_EQ(g.antialias_down, o.antialias_down);
  EXPECT_EQ(g.antialias_up, o.antialias_up);
  EXPECT_EQ(g.upsample_conv, o.upsample_conv);
  EXPECT_EQ(g.unet_downs, o.unet_downs);
  EXPECT_TRUE(r.batch_stats);
  EXPECT_EQ(r.direction, "BtoA");
  EXPECT_EQ(r.crop_size, 96);
  EXPECT_EQ(r.epochs_trained, 3);
  EXPECT_EQ(r.source, "somewhere");
  EXPECT_EQ(r.teacher, "T.pt");
  EXPECT_EQ(r.architecture(), "unet_64");
  EXPECT_EQ(r.size_rule().multiple, 64);
}

// Files written before format 2 named three fields otherwise (the bundled models among them).
TEST(ModelFile, FormatOneMetadataIsStillRead) {
  const auto m = ModelMetadata::from_json(
      R"({"format_version": 1, "architecture": "mobile_resnet_3blocks", "ngf": 8, "n_blocks": 3,
          "block": "mobile", "family": "resnet", "norm": "batch", "dropout": true,
          "batch_norm_statistics": "frame", "direction": "BtoA", "crop_size": 64})",
      "old.pt");
  EXPECT_TRUE(m.generator.mobile);
  EXPECT_TRUE(m.generator.use_dropout);
  EXPECT_TRUE(m.batch_stats);
  EXPECT_EQ(m.generator.norm, Norm::kBatch);
  EXPECT_EQ(m.generator.ngf, 8);
  EXPECT_EQ(m.architecture(), "mobile_resnet_3blocks");
  EXPECT_EQ(m.crop_size, 64);
  const auto plain = ModelMetadata::from_json(R"({"format_version": 1, "block": "resnet"})", "old.pt");
  EXPECT_FALSE(plain.generator.mobile);
  EXPECT_FALSE(plain.batch_stats);
}

// The space-to-depth factor is recorded, in the name too, and read back.
TEST(ModelFile, MetadataRecordsTheSpaceToDepthFactor) {
  GeneratorOptions o;
  o.ngf = 8;
  o.n_blocks = 2;
  o.mobile = true;
  o.space_to_depth = 4;
  const auto m = ModelMetadata::for_generator(o);
  EXPECT_THAT(m.to_json(), testing::AllOf(HasSubstr("\"architecture\": \"s2d4_mobile_resnet_2blocks\""),
                                          HasSubstr("\"space_to_depth\": 4")));
  const auto r = ModelMetadata::from_json(m.to_json(), "s.pt");
  EXPECT_EQ(r.generator.space_to_depth, 4);
  EXPECT_EQ(r.architecture(), "s2d4_mobile_resnet_2blocks");
  // Files written before the field build the official layout.
  EXPECT_EQ(ModelMetadata::from_json(R"({"format_version": 2})", "old.pt").generator.space_to_depth, 1);
}

TEST(ModelFile, MetadataThatContradictsItselfIsRefused) {
  // A name and fields that disagree about the layout: which is right cannot be told.
  EXPECT_THAT(error_of([] {
                ModelMetadata::from_json(R"({"format_version": 2, "architecture": "s2d4_mobile_resnet_6blocks",
                                             "mobile": true, "n_blocks": 6})",
                                         "a.pt");
              }),
              HasSubstr("a.pt: bad metadata.json (it records the architecture s2d4_mobile_resnet_6blocks, but its "
                        "fields describe mobile_resnet_6blocks)"));
  EXPECT_THAT(error_of([] {
                ModelMetadata::from_json(R"({"format_version": 2, "architecture": "resnet_9blocks",
                                             "space_to_depth": 2})",
                                         "b.pt");
              }),
              HasSubstr("b.pt: bad metadata.json (it records the architecture resnet_9blocks, but its fields describe "
                        "s2d2_resnet_9blocks)"));
  EXPECT_THAT(error_of([] { ModelMetadata::from_json(R"({"format_version": 2, "space_to_depth": 3})", "c.pt"); }),
              HasSubstr("c.pt: bad metadata.json (space_to_depth 3 is not 1, 2 or 4 (1 for a U-Net))"));
  EXPECT_THAT(error_of([] {
                ModelMetadata::from_json(R"({"format_version": 2, "family": "unet", "space_to_depth": 2})", "d.pt");
              }),
              HasSubstr("d.pt: bad metadata.json (space_to_depth 2 is not 1, 2 or 4 (1 for a U-Net))"));
  // A size rule that is not its generator's would pad frames wrongly.
  EXPECT_THAT(error_of([] {
                ModelMetadata::from_json(R"({"format_version": 2, "family": "unet", "unet_downs": 8,
                                             "size_multiple": 4, "min_size": 8})",
                                         "u.pt");
              }),
              HasSubstr("u.pt: bad metadata.json (it records frames in multiples of 4, at least 8, but its generator "
                        "unet_256 needs multiples of 256, at least 256)"));
  // Unknown enum names are errors, not the first value.
  EXPECT_THAT(error_of([] { ModelMetadata::from_json(R"({"format_version": 2, "norm": "layer"})", "n.pt"); }),
              HasSubstr("n.pt: bad metadata.json (unknown norm 'layer'"));
  EXPECT_THAT(error_of([] { ModelMetadata::from_json(R"({"format_version": 2, "family": "vit"})", "f.pt"); }),
              HasSubstr("f.pt: bad metadata.json (unknown generator family 'vit'"));
  EXPECT_THAT(error_of([] { ModelMetadata::from_json(R"({"format_version": 2, "ngf": "many"})", "t.pt"); }),
              HasSubstr("t.pt: bad metadata.json"));
  EXPECT_THAT(error_of([] { ModelMetadata::from_json(R"({"format_version": 2, "ngf": 0})", "z.pt"); }),
              HasSubstr("z.pt: bad metadata.json (ngf, n_blocks, input_nc or output_nc out of range)"));
}

}  // namespace
}  // namespace cg
