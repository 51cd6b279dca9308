// The safetensors reader and writer, and generators in and out of the format. Python's own
// library reads and writes the files in tests/python/test_safetensors.py.
#include "common/atomic-file.h"
#include "model/official-import.h"
#include "model/safetensors.h"
#include "tests/test-helpers.h"

#include <gmock/gmock.h>
#include <torch/torch.h>

#include <cstring>

namespace cg {
namespace {

using test::error_of;
using test::fixture;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A file made by hand from the format's description, independent of our writer.
std::string file_of(const std::string& header, const std::string& data) {
  const uint64_t n = header.size();
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + header + data;
}

template <typename T>
std::string bytes_of(std::initializer_list<T> values) {
  std::string s(values.size() * sizeof(T), '\0');
  std::memcpy(s.data(), values.begin(), s.size());
  return s;
}

SafetensorsFile read(const std::string& bytes) {
  return read_safetensors_bytes(bytes.data(), bytes.size(), "x.safetensors");
}

std::string error_reading(const std::string& bytes) {
  const std::string e = error_of([&] { read_safetensors_bytes(bytes.data(), bytes.size(), "bad.safetensors"); });
  EXPECT_THAT(e, StartsWith("bad.safetensors: not a readable safetensors file: "));
  return e;
}

// Two float32 tensors of 2 elements each at the given offsets, in a data area of `data` bytes.
std::string two_tensors(const std::string& a_offsets, const std::string& b_offsets, size_t data) {
  return file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":)" + a_offsets +
                     R"(},"b":{"dtype":"F32","shape":[2],"data_offsets":)" + b_offsets + "}}",
                 std::string(data, '\0'));
}

TEST(Safetensors, ReadsAHandMadeFile) {
  const auto f = read(file_of(R"({"__metadata__":{"k":"v"},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                              R"("a":{"dtype":"I64","shape":[1,1],"data_offsets":[0,8]}}    )",
                              bytes_of<int64_t>({-7}) + bytes_of<float>({1.5f, -2.0f})));
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].first, "a");
  EXPECT_TRUE(f.tensors[0].second.equal(torch::tensor({{-7}}, torch::kLong)));
  EXPECT_EQ(f.tensors[1].first, "b");
  EXPECT_TRUE(f.tensors[1].second.equal(torch::tensor({1.5f, -2.0f})));
  EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"k", "v"}}));
}

TEST(Safetensors, EveryAcceptedDtypeRoundTrips) {
  const auto x = torch::randn({3, 5});
  const NamedTensors tensors = {{"f64", x.to(torch::kDouble)},
                                {"f32", x},
                                {"f16", x.to(torch::kHalf)},
                                {"bf16", x.to(torch::kBFloat16)},
                                {"i64", torch::arange(-3, 3, torch::kLong)},
                                {"i32", torch::arange(-3, 3, torch::kInt)},
                                {"i16", torch::arange(-3, 3, torch::kShort)},
                                {"i8", torch::arange(-3, 3, torch::kChar)},
                                {"u8", torch::arange(250, 256, torch::kByte)},
                                {"scalar", torch::tensor(2.5f).reshape({})},
                                {"empty", torch::zeros({0, 4})},
                                {"strided", x.t()}};
  const std::string bytes = safetensors_bytes(tensors, {{"note", "ü ✓"}});
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u) << "the data area starts 8-byte aligned";
  const auto back = read(bytes);
  EXPECT_EQ(back.metadata.at("note"), "ü ✓");
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (const auto& [key, t] : tensors) {
    const auto got = test::tensor_named(back.tensors, key);
    EXPECT_EQ(got.scalar_type(), t.scalar_type()) << key;
    EXPECT_TRUE(got.equal(t)) << key;
  }
}

TEST(Safetensors, TensorsComeInStateDictOrder) {
  // The file sorts names as text; a state_dict has numbers in order and weight before bias.
  NamedTensors scrambled;
  for (const char* k : {"model.10.bias", "model.2.running_var", "model.2.bias", "model.10.weight", "model.1.weight",
                        "model.2.weight", "model.2.running_mean", "model.1.conv_block.1.weight"})
    scrambled.emplace_back(k, torch::zeros({1}));
  std::vector<std::string> order;
  for (const auto& [k, t] : read(safetensors_bytes(scrambled, {})).tensors) order.push_back(k);
  EXPECT_EQ(order, (std::vector<std::string>{"model.1.weight", "model.1.conv_block.1.weight", "model.2.weight",
                                             "model.2.bias", "model.2.running_mean", "model.2.running_var",
                                             "model.10.weight", "model.10.bias"}));
}

TEST(Safetensors, TruncatedFilesAreRefused) {
  EXPECT_THAT(error_reading(""), HasSubstr("truncated: 0 bytes"));
  EXPECT_THAT(error_reading(std::string("\x10\0\0", 3)), HasSubstr("truncated: 3 bytes"));
  const std::string whole = safetensors_bytes({{"w", torch::ones({4, 4})}}, {});
  uint64_t n = 0;
  std::memcpy(&n, whole.data(), 8);
  EXPECT_THAT(error_reading(whole.substr(0, 8 + n / 2)), HasSubstr("truncated: the header length is"));
  EXPECT_THAT(error_reading(whole.substr(0, whole.size() - 1)),
              HasSubstr("tensor 'w''s data_offsets [0, 64] are not inside the data area of 63 bytes"));
}

TEST(Safetensors, HeaderOverTheLimitIsRefusedBeforeReadingIt) {
  const uint64_t n = kSafetensorsMaxHeader + 1;
  std::string bytes(reinterpret_cast<const char*>(&n), 8);
  bytes += "{}";
  EXPECT_THAT(error_reading(bytes), HasSubstr("header length, 100000001 bytes, is over the limit of 100000000"));
  const uint64_t huge = ~uint64_t{0};
  EXPECT_THAT(error_reading(std::string(reinterpret_cast<const char*>(&huge), 8) + "{}"), HasSubstr("over the limit"));
}

TEST(Safetensors, HeaderMustBeAJsonObjectOfTensors) {
  EXPECT_THAT(error_reading(file_of("[1, 2]", "")), HasSubstr("does not start with '{'"));
  EXPECT_THAT(error_reading(file_of(R"({"a": {"dtype": )", "")), HasSubstr("its header is not valid JSON"));
  EXPECT_THAT(error_reading(file_of("{\"a\":\"\xff\xfe\"}", "")), HasSubstr("not valid JSON"));
  EXPECT_THAT(error_reading(file_of(R"({"a":{"x":)" + std::string(100000, '[') + std::string(100000, ']') + "}}", "")),
              HasSubstr("nests JSON deeper"));
  EXPECT_THAT(error_reading(file_of(R"({"a":[0,4]})", "")), HasSubstr("tensor 'a' is described by a JSON array"));
  EXPECT_THAT(error_reading(file_of(R"({"a":{"dtype":"F32","shape":[1]}})", "")),
              HasSubstr("tensor 'a' has no data_offsets"));
  EXPECT_THAT(error_reading(file_of(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", "")),
              HasSubstr("tensor 'a''s shape holds something other than a size"));
  EXPECT_THAT(error_reading(file_of(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}})", "")),
              HasSubstr("shape holds something other than a size"));
  EXPECT_THAT(error_reading(file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", "")),
              HasSubstr("data_offsets are not two byte offsets"));
}

TEST(Safetensors, MetadataMustMapStringsToStrings) {
  EXPECT_THAT(error_reading(file_of(R"({"__metadata__":{"epochs":200}})", "")),
              HasSubstr("__metadata__ holds 'epochs' as a JSON number; the format allows only strings"));
  EXPECT_THAT(error_reading(file_of(R"({"__metadata__":["a"]})", "")),
              HasSubstr("__metadata__ is a JSON array, not an object"));
}

TEST(Safetensors, OffsetsMustTileTheDataArea) {
  EXPECT_NO_THROW(read(two_tensors("[0,8]", "[8,16]", 16)));
  EXPECT_THAT(error_reading(two_tensors("[0,8]", "[8,16]", 12)),
              HasSubstr("tensor 'b''s data_offsets [8, 16] are not inside the data area of 12 bytes"));
  EXPECT_THAT(error_reading(two_tensors("[0,8]", "[4,12]", 12)),
              HasSubstr("tensor 'b' overlaps tensor 'a' (bytes 4 to 8 of the data area)"));
  EXPECT_THAT(error_reading(two_tensors("[0,8]", "[0,8]", 8)), HasSubstr("overlaps"));
  EXPECT_THAT(error_reading(two_tensors("[0,8]", "[12,20]", 20)),
              HasSubstr("bytes 8 to 12 of the data area belong to no tensor"));
  EXPECT_THAT(error_reading(two_tensors("[0,8]", "[8,16]", 20)),
              HasSubstr("bytes 16 to 20 of the data area belong to no tensor"));
  EXPECT_THAT(error_reading(two_tensors("[8,0]", "[8,16]", 16)), HasSubstr("data_offsets [8, 0] are not inside"));
  EXPECT_THAT(error_reading(two_tensors("[0,8]", "[8,18446744073709551615]", 16)), HasSubstr("not inside"));
}

TEST(Safetensors, DtypeAndShapeMustMatchTheByteCount) {
  EXPECT_THAT(error_reading(file_of(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0'))),
              HasSubstr("tensor 'a' of shape [2] and dtype F16 needs 4 bytes, but its data_offsets [0, 8] hold 8"));
  EXPECT_THAT(error_reading(file_of(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})",
                                    std::string(8, '\0'))),
              HasSubstr("needs more than 2^64 bytes"));
  EXPECT_THAT(
      error_reading(file_of(R"({"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}})", std::string(8, '\0'))),
      HasSubstr("tensor 'a' has dtype F8_E4M3; this reader takes F64, F32, F16, BF16, I64, I32, I16, I8, U8"));
  EXPECT_THAT(error_reading(file_of(R"({"a":{"dtype":7,"shape":[8],"data_offsets":[0,8]}})", std::string(8, '\0'))),
              HasSubstr("dtype is not a string"));
}

TEST(Safetensors, FilesAreToldFromOtherFormats) {
  test::TempDir dir;
  write_file_atomically(dir / "weights.bin", safetensors_bytes({{"w", torch::ones({2})}}, {}));
  EXPECT_TRUE(is_safetensors_file(dir / "weights.bin"));
  EXPECT_FALSE(is_safetensors_file(fixture("g9.pth")));
  EXPECT_FALSE(is_safetensors_file(fixture("truncated.pth")));
  EXPECT_TRUE(is_safetensors_file(dir / "missing.safetensors"));
  EXPECT_THAT(error_of([&] { read_safetensors(dir / "missing.safetensors"); }),
              HasSubstr("missing.safetensors: cannot open"));
}

TEST(SafetensorsGenerator, RoundTripKeepsWeightsMetadataAndOutput) {
  test::TempDir dir;
  auto g = import_official_generator(fixture("g2-ngf8-dropout.pth"));
  auto meta = ModelMetadata::for_generator(g->options());
  meta.direction = "BtoA";
  meta.crop_size = 128;
  meta.source = "test";
  save_generator_safetensors(*g, meta, dir / "G.safetensors");

  const auto file = read_safetensors(dir / "G.safetensors");
  ASSERT_TRUE(has_generator_metadata(file));
  // The official state_dict names, so Python's official module loads the tensors as they are.
  const auto pth = read_state_dict(fixture("g2-ngf8-dropout.pth"));
  ASSERT_EQ(file.tensors.size(), pth.size());
  for (const auto& [key, t] : pth) EXPECT_TRUE(test::tensor_named(file.tensors, key).equal(t)) << key;

  auto back = generator_from_safetensors(file, "G.safetensors");
  EXPECT_EQ(back.metadata.to_json(), meta.to_json());
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({2, 3, 24, 40}) * 2 - 1;
  EXPECT_TRUE(back.generator->forward(x).equal(g->forward(x)));
}

// A student without full-resolution convolutions: its factor travels in the metadata, and a
// file whose tensors are the official layout's is not read as one.
TEST(SafetensorsGenerator, SpaceToDepthRoundTripsAndIsNotMistaken) {
  test::TempDir dir;
  GeneratorOptions o;
  o.ngf = 4;
  o.n_blocks = 2;
  o.mobile = true;
  o.space_to_depth = 4;
  torch::manual_seed(3);
  Generator g(o);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : g->parameters()) p.normal_(0.0, 0.3);
  }
  g->eval();
  const auto meta = ModelMetadata::for_generator(o);
  save_generator_safetensors(*g, meta, dir / "G.safetensors");
  const auto file = read_safetensors(dir / "G.safetensors");
  std::vector<std::string> keys;
  for (const auto& [key, t] : file.tensors) keys.push_back(key);
  std::vector<std::string> layout;
  for (const auto& s : state_dict_layout(o)) layout.push_back(s.key);
  EXPECT_EQ(keys, layout);
  auto back = generator_from_safetensors(file, "G.safetensors");
  EXPECT_EQ(back.metadata.generator.space_to_depth, 4);
  torch::NoGradGuard no_grad;
  const auto x = torch::rand({2, 3, 24, 40}) * 2 - 1;
  EXPECT_TRUE(back.generator->forward(x).equal(g->forward(x)));
  // The same metadata over an official generator's tensors.
  GeneratorOptions official = o;
  official.space_to_depth = 1;
  save_generator_safetensors(*Generator(official), meta, dir / "wrong.safetensors");
  EXPECT_THAT(test::error_of([&] {
                generator_from_safetensors(read_safetensors(dir / "wrong.safetensors"), "wrong.safetensors");
              }),
              testing::HasSubstr("wrong.safetensors"));
}

TEST(SafetensorsGenerator, ForeignFileIsRecognisedAsItsPthIs) {
  test::TempDir dir;
  auto pth = read_state_dict(fixture("g6-ngf16-running-stats.pth"));
  write_file_atomically(dir / "model.safetensors", safetensors_bytes(pth, {{"format", "pt"}}));
  auto from_pth = import_official_generator(fixture("g6-ngf16-running-stats.pth"));
  auto from_st = import_official_generator(dir / "model.safetensors");
  EXPECT_EQ(from_st->options().n_blocks, 6);
  EXPECT_EQ(from_st->options().ngf, 16);
  auto io = read_state_dict(fixture("g6-ngf16-io.pth"));
  torch::NoGradGuard no_grad;
  const auto x = test::tensor_named(io, "input");
  EXPECT_TRUE(from_st->forward(x).equal(from_pth->forward(x)));
  EXPECT_THAT(error_of([&] { generator_from_safetensors(read_safetensors(dir / "model.safetensors"), "m"); }),
              HasSubstr("m: a safetensors file without cyclegan-gst metadata"));
}

TEST(SafetensorsGenerator, TensorsMustBeThoseTheMetadataDescribes) {
  auto g = import_official_generator(fixture("g2-ngf8-dropout.pth"));
  NamedTensors tensors;
  for (const auto& t : state_tensors(*g)) tensors.emplace_back(t.key(), t.value());
  const auto with = [&](NamedTensors ts, ModelMetadata m) {
    return read(safetensors_bytes(ts, {{kSafetensorsMetadataKey, m.to_json()}}));
  };
  auto meta = ModelMetadata::for_generator(g->options());

  auto three = meta;
  three.generator.n_blocks = 3;
  EXPECT_THAT(error_of([&] { generator_from_safetensors(with(tensors, three), "G.safetensors"); }),
              HasSubstr("G.safetensors: its tensors do not fit the resnet_3blocks generator its metadata describes "
                        "(no tensor 'model.12.conv_block.1.weight'"));
  auto wider = meta;
  wider.generator.ngf = 16;
  EXPECT_THAT(error_of([&] { generator_from_safetensors(with(tensors, wider), "G"); }),
              HasSubstr("tensor 'model.1.weight' has shape [8, 3, 7, 7], expected [16, 3, 7, 7]"));
  auto surplus = tensors;
  surplus.emplace_back("extra", torch::zeros({1}));
  EXPECT_THAT(error_of([&] { generator_from_safetensors(with(surplus, meta), "G"); }),
              HasSubstr("tensor 'extra' is not one of its tensors"));
  auto integer = tensors;
  integer[0].second = integer[0].second.to(torch::kInt);
  EXPECT_THAT(error_of([&] { generator_from_safetensors(with(integer, meta), "G"); }),
              HasSubstr("is not floating-point"));
  // Written by hand: the writer would count the multiply-adds of its 2^40 blocks.
  std::string huge = meta.to_json();
  huge.replace(huge.find("\"n_blocks\": 2"), 13, "\"n_blocks\": 1099511627776");
  huge.replace(huge.find("resnet_2blocks"), 14, "resnet_1099511627776blocks");  // its name agrees
  EXPECT_THAT(error_of([&] {
                generator_from_safetensors(read(safetensors_bytes(tensors, {{kSafetensorsMetadataKey, huge}})), "G");
              }),
              HasSubstr("more blocks or wider layers than the file's 20 tensors can hold"));
  EXPECT_THAT(error_of([&] {
                generator_from_safetensors(read(safetensors_bytes(tensors, {{kSafetensorsMetadataKey, "{"}})), "G");
              }),
              HasSubstr("G: bad metadata.json"));
}

}  // namespace
}  // namespace cg
