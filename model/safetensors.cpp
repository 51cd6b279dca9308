#include "model/safetensors.h"

#include "common/atomic-file.h"
#include "common/error.h"

#include <ATen/ATen.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

namespace cg {

// The format stores little-endian bytes, which this reader and writer copy as they are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

namespace {

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
// The types a generator's weights and buffers can have. The rest (BOOL, whose bytes other than 0
// and 1 LibTorch may not hold; unsigned wider than 8 bits; FP8; complex) is refused by name.
constexpr DtypeName kDtypes[] = {{"F64", at::kDouble},    {"F32", at::kFloat}, {"F16", at::kHalf},
                                 {"BF16", at::kBFloat16}, {"I64", at::kLong},  {"I32", at::kInt},
                                 {"I16", at::kShort},     {"I8", at::kChar},   {"U8", at::kByte}};

std::string accepted_dtypes() {
  std::string s;
  for (const auto& d : kDtypes) s += (s.empty() ? "" : ", ") + std::string(d.name);
  return s;
}

// A valid header nests three deep (the object, a tensor's entry, its shape); the limit keeps
// a damaged one from nesting arrays a million deep.
constexpr int kMaxJsonDepth = 4;
constexpr size_t kMaxRank = 64;

std::string shape_text(const std::vector<int64_t>& s) {
  std::ostringstream o;
  o << c10::IntArrayRef(s);
  return o.str();
}

// A state_dict's order, rebuilt from the names: numbers as numbers, and a module's own tensors
// (weight, bias, running statistics) before its children's.
std::tuple<int, uint64_t, std::string> segment_key(const std::string& seg) {
  static const char* const own[] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
  for (size_t r = 0; r < std::size(own); ++r)
    if (seg == own[r]) return {0, r, ""};
  if (!seg.empty() && seg.size() <= 18 &&
      std::all_of(seg.begin(), seg.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return {1, std::stoull(seg), ""};
  return {2, 0, seg};
}

std::vector<std::string> segments(const std::string& key) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t dot; (dot = key.find('.', start)) != std::string::npos; start = dot + 1)
    out.push_back(key.substr(start, dot - start));
  out.push_back(key.substr(start));
  return out;
}

bool module_order_less(const std::string& a, const std::string& b) {
  const auto sa = segments(a), sb = segments(b);
  for (size_t i = 0; i < sa.size() && i < sb.size(); ++i) {
    const auto ka = segment_key(sa[i]), kb = segment_key(sb[i]);
    if (ka != kb) return ka < kb;
  }
  return sa.size() != sb.size() ? sa.size() < sb.size() : a < b;
}

struct Entry {
  std::string key;
  at::ScalarType type;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

class Reader {
 public:
  Reader(const uint8_t* p, size_t size, const std::string& name) : p_(p), size_(size), name_(name) {}

  SafetensorsFile run() {
    if (size_ < 8) fail("truncated: " + std::to_string(size_) + " bytes, less than the 8-byte header length");
    uint64_t n = 0;
    std::memcpy(&n, p_, 8);
    if (n > kSafetensorsMaxHeader)
      fail("its header length, " + std::to_string(n) + " bytes, is over the limit of " +
           std::to_string(kSafetensorsMaxHeader));
    if (n > size_ - 8)
      fail("truncated: the header length is " + std::to_string(n) + " bytes, but only " + std::to_string(size_ - 8) +
           " follow it");
    if (n < 2 || p_[8] != '{') fail("its header does not start with '{' (not a safetensors file?)");
    data_ = p_ + 8 + n;
    data_size_ = size_ - 8 - n;

    const auto* text = reinterpret_cast<const char*>(p_ + 8);
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(text, text + n, [this](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        if (depth > kMaxJsonDepth) fail("its header nests JSON deeper than a safetensors header does");
        return true;
      });
    } catch (const nlohmann::json::exception& e) {
      fail(std::string("its header is not valid JSON (") + e.what() + ")");
    }
    if (!header.is_object()) fail("its header is not a JSON object");

    SafetensorsFile out;
    std::vector<Entry> entries;
    for (const auto& [key, value] : header.items()) {
      if (key == "__metadata__") {
        read_metadata(value, out.metadata);
      } else {
        entries.push_back(entry(key, value));
      }
    }
    check_layout(entries);
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return module_order_less(a.key, b.key); });
    for (const Entry& e : entries) {
      auto t = at::empty(e.shape, at::TensorOptions().dtype(e.type));
      if (e.end > e.begin) std::memcpy(t.data_ptr(), data_ + e.begin, e.end - e.begin);
      out.tensors.emplace_back(e.key, std::move(t));
    }
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(ErrorKind::kModel, name_ + ": not a readable safetensors file: " + why);
  }

  void read_metadata(const nlohmann::json& value, std::map<std::string, std::string>& into) const {
    if (!value.is_object()) fail("__metadata__ is a JSON " + std::string(value.type_name()) + ", not an object");
    for (const auto& [k, v] : value.items()) {
      if (!v.is_string())
        fail("__metadata__ holds '" + k + "' as a JSON " + v.type_name() + "; the format allows only strings");
      into[k] = v.get<std::string>();
    }
  }

  static bool is_count(const nlohmann::json& v) {
    return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
  }

  Entry entry(const std::string& key, const nlohmann::json& v) const {
    const std::string what = "tensor '" + key + "'";
    if (!v.is_object()) fail(what + " is described by a JSON " + v.type_name() + ", not an object");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!v.contains(field)) fail(what + " has no " + field);
    Entry e;
    e.key = key;
    const auto& dtype = v["dtype"];
    if (!dtype.is_string()) fail(what + "'s dtype is not a string");
    const auto* known = std::find_if(std::begin(kDtypes), std::end(kDtypes),
                                     [&](const DtypeName& d) { return dtype.get<std::string>() == d.name; });
    if (known == std::end(kDtypes))
      fail(what + " has dtype " + dtype.get<std::string>() + "; this reader takes " + accepted_dtypes());
    e.type = known->type;

    const auto& shape = v["shape"];
    if (!shape.is_array() || shape.size() > kMaxRank)
      fail(what + "'s shape is not an array of at most " + std::to_string(kMaxRank) + " sizes");
    uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : shape) {
      if (!is_count(d) || d.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
        fail(what + "'s shape holds something other than a size");
      e.shape.push_back(d.get<int64_t>());
      overflow |= __builtin_mul_overflow(numel, d.get<uint64_t>(), &numel);
    }
    uint64_t bytes = 0;
    overflow |= __builtin_mul_overflow(numel, uint64_t(at::elementSize(e.type)), &bytes);

    const auto& offsets = v["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !is_count(offsets[0]) || !is_count(offsets[1]))
      fail(what + "'s data_offsets are not two byte offsets [begin, end]");
    e.begin = offsets[0].get<uint64_t>();
    e.end = offsets[1].get<uint64_t>();
    const std::string span = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.begin > e.end || e.end > data_size_)
      fail(what + "'s data_offsets " + span + " are not inside the data area of " + std::to_string(data_size_) +
           " bytes");
    if (overflow || bytes != e.end - e.begin)
      fail(what + " of shape " + shape_text(e.shape) + " and dtype " + known->name + " needs " +
           (overflow ? std::string("more than 2^64") : std::to_string(bytes)) + " bytes, but its data_offsets " + span +
           " hold " + std::to_string(e.end - e.begin));
    return e;
  }

  // The tensors must tile the data area exactly, as the reference implementation requires: an
  // overlap or a hole means a damaged or hand-made file.
  void check_layout(std::vector<Entry> entries) const {
    std::sort(entries.begin(), entries.end(),
              [](const Entry& a, const Entry& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
    uint64_t at = 0;
    const Entry* previous = nullptr;
    for (const Entry& e : entries) {
      if (e.begin < at)
        fail("tensor '" + e.key + "' overlaps tensor '" + previous->key + "' (bytes " + std::to_string(e.begin) +
             " to " + std::to_string(at) + " of the data area)");
      if (e.begin > at)
        fail("bytes " + std::to_string(at) + " to " + std::to_string(e.begin) +
             " of the data area belong to no tensor");
      at = e.end;
      previous = &e;
    }
    if (at != data_size_)
      fail("bytes " + std::to_string(at) + " to " + std::to_string(data_size_) +
           " of the data area belong to no tensor");
  }

  const uint8_t* p_;
  size_t size_;
  const std::string& name_;
  const uint8_t* data_ = nullptr;
  uint64_t data_size_ = 0;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

SafetensorsFile read_safetensors_bytes(const void* data, size_t size, const std::string& name) {
  return Reader(static_cast<const uint8_t*>(data), size, name).run();
}

SafetensorsFile read_safetensors(const std::string& path) {
  if (std::filesystem::is_directory(path)) throw Error(ErrorKind::kModel, path + ": is a directory, not a file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorKind::kModel, path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw Error(ErrorKind::kModel, path + ": read error");
  return read_safetensors_bytes(bytes.data(), bytes.size(), path);
}

std::string safetensors_bytes(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> data;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [key, tensor] : tensors) {
    if (key == "__metadata__" || !seen.insert(key).second)
      throw Error(ErrorKind::kModel, "safetensors: tensor name '" + key + "' is reserved or given twice");
    auto t = tensor.detach().to(at::kCPU).contiguous();
    const auto* known = std::find_if(std::begin(kDtypes), std::end(kDtypes),
                                     [&](const DtypeName& d) { return d.type == t.scalar_type(); });
    if (known == std::end(kDtypes))
      throw Error(ErrorKind::kModel, "safetensors: tensor '" + key + "' has a dtype the format stores only as " +
                                         accepted_dtypes() + " here");
    const uint64_t bytes = t.nbytes();
    header[key] = {{"dtype", known->name}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(t));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t n = text.size();
  std::string out;
  out.reserve(8 + n + offset);
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += text;
  for (const auto& t : data) out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  return out;
}

bool is_safetensors_file(const std::string& path) {
  if (ends_with(path, ".safetensors")) return true;
  std::ifstream f(path, std::ios::binary);
  char head[9];
  if (!f.read(head, sizeof head)) return false;
  uint64_t n = 0;
  std::memcpy(&n, head, 8);
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return !ec && size >= 9 && n <= size - 8 && head[8] == '{';
}

void save_generator_safetensors(const GeneratorImpl& generator, const ModelMetadata& metadata,
                                const std::string& path) {
  NamedTensors tensors;
  for (const auto& t : state_tensors(generator)) tensors.emplace_back(t.key(), t.value());
  // "format": "pt" is what Hugging Face's loaders look for to treat the tensors as PyTorch's.
  write_file_atomically(path,
                        safetensors_bytes(tensors, {{kSafetensorsMetadataKey, metadata.to_json()}, {"format", "pt"}}));
}

bool has_generator_metadata(const SafetensorsFile& file) { return file.metadata.count(kSafetensorsMetadataKey) > 0; }

SafetensorsGenerator generator_from_safetensors(const SafetensorsFile& file, const std::string& name) {
  const auto it = file.metadata.find(kSafetensorsMetadataKey);
  if (it == file.metadata.end())
    throw Error(ErrorKind::kModel, name + ": a safetensors file without cyclegan-gst metadata (no \"" +
                                       kSafetensorsMetadataKey + "\" in __metadata__): its generator is unknown");
  SafetensorsGenerator r;
  r.metadata = ModelMetadata::from_json(it->second, name);
  const GeneratorOptions& o = r.metadata.generator;
  const std::string arch = r.metadata.architecture();
  const auto bad = [&](const std::string& why) {
    return Error(ErrorKind::kModel,
                 name + ": its tensors do not fit the " + arch + " generator its metadata describes (" + why + ")");
  };
  // The layout's length grows with the blocks and its shapes with the widths; every block has
  // tensors, and a width beyond this would not fit in memory anyway.
  constexpr int64_t kMaxWidth = int64_t{1} << 20;
  if (o.n_blocks > static_cast<int64_t>(file.tensors.size()) || o.ngf > kMaxWidth || o.input_nc > kMaxWidth ||
      o.output_nc > kMaxWidth)
    throw bad("more blocks or wider layers than the file's " + std::to_string(file.tensors.size()) +
              " tensors can hold");
  std::map<std::string, at::Tensor> left(file.tensors.begin(), file.tensors.end());
  for (const TensorSpec& s : state_dict_layout(o)) {
    auto t = left.find(s.key);
    if (t == left.end()) throw bad("no tensor '" + s.key + "' of shape " + shape_text(s.shape));
    if (t->second.sizes() != c10::IntArrayRef(s.shape))
      throw bad("tensor '" + s.key + "' has shape " + shape_text(t->second.sizes().vec()) + ", expected " +
                shape_text(s.shape));
    if (!at::isFloatingType(t->second.scalar_type())) throw bad("tensor '" + s.key + "' is not floating-point");
    left.erase(t);
  }
  if (!left.empty()) throw bad("tensor '" + left.begin()->first + "' is not one of its tensors");
  r.generator = Generator(o);
  auto into = state_tensors(*r.generator);
  torch::NoGradGuard no_grad;
  for (const auto& [key, t] : file.tensors) {
    auto* to = into.find(key);
    if (to == nullptr) throw bad("internal: the generator has no tensor '" + key + "'");
    to->copy_(t);
  }
  r.generator->eval();
  return r;
}

}  // namespace cg
