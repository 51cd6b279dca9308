#include "model/state-dict-reader.h"

#include "model/pickle-ops.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <unordered_map>

namespace cg {

namespace {

// Python objects as far as a state_dict pickle needs them.
struct PyObj;
using Ref = std::shared_ptr<PyObj>;
enum class Kind { None, Bool, Int, Float, Str, Tuple, List, Dict, Global, Storage, Tensor, Opaque };

struct PyObj {
  Kind kind = Kind::None;
  int64_t i = 0;  // Int, Bool
  double f = 0;
  std::string s;           // Str; Global's "module.name"; Storage's record key
  std::vector<Ref> items;  // Tuple, List
  std::vector<std::pair<Ref, Ref>> dict;
  at::ScalarType dtype = at::kByte;  // Storage
  int64_t numel = 0;                 // Storage
  at::Tensor tensor;
};

Ref make(Kind k) {
  auto r = std::make_shared<PyObj>();
  r->kind = k;
  return r;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::Str: return "str";
    case Kind::Tuple: return "tuple";
    case Kind::List: return "list";
    case Kind::Dict: return "dict";
    case Kind::Global: return "class or function";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
    case Kind::Opaque: return "object";
  }
  return "?";
}

// Reads records of the zip through an in-memory buffer, so files and fuzzer input share a path.
class MemoryAdapter : public caffe2::serialize::ReadAdapterInterface {
 public:
  MemoryAdapter(const void* data, size_t size) : data_(static_cast<const char*>(data)), size_(size) {}
  size_t size() const override { return size_; }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    // miniz asks for zero bytes into a null buffer for an empty record; memcpy may not be given null.
    if (pos >= size_ || n == 0) return 0;
    n = std::min<uint64_t>(n, size_ - pos);
    std::memcpy(buf, data_ + pos, n);
    return n;
  }

 private:
  const char* data_;
  size_t size_;
};

class Unpickler {
 public:
  Unpickler(const std::string& name, const uint8_t* p, size_t n, caffe2::serialize::PyTorchStreamReader& zip)
      : name_(name), p_(p), n_(n), zip_(zip) {}

  Ref run() {
    for (;;) {
      PickleOp op;
      const PickleRead read = read_pickle_op(p_, n_, pos_, op);
      if (read == PickleRead::kTruncated) fail("pickle data ends early");
      switch (op.code) {
        case 0x80: break;                                  // PROTO
        case 0x95: break;                                  // FRAME
        case '.': return pop();                            // STOP
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case 'N': push(make(Kind::None)); break;
        case 0x88: push_bool(true); break;                        // NEWTRUE
        case 0x89: push_bool(false); break;                       // NEWFALSE
        case 'J': push_int(static_cast<int32_t>(op.arg)); break;  // BININT
        case 'K':
        case 'M': push_int(static_cast<int64_t>(op.arg)); break;  // BININT1, BININT2
        case 0x8a: push_int(long1(op.bytes)); break;              // LONG1
        case 'G': {                                               // BINFLOAT, big-endian double
          uint64_t bits = 0;
          for (const char c : op.bytes) bits = (bits << 8) | static_cast<uint8_t>(c);
          auto r = make(Kind::Float);
          std::memcpy(&r->f, &bits, 8);
          push(r);
          break;
        }
        // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING, BINBYTES, SHORT_BINBYTES
        case 'X':
        case 0x8c:
        case 0x8d:
        case 'T':
        case 'U':
        case 'B':
        case 'C': push_str(op.bytes); break;
        case ')': push(make(Kind::Tuple)); break;
        case ']': push(make(Kind::List)); break;
        case '}': push(make(Kind::Dict)); break;
        case 't': {  // TUPLE
          auto r = make(Kind::Tuple);
          r->items = pop_to_mark();
          push(r);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          const size_t k = op.code - 0x84;
          if (stack_.size() < k + base()) fail("tuple needs more items than the stack holds");
          auto r = make(Kind::Tuple);
          r->items.assign(stack_.end() - k, stack_.end());
          stack_.resize(stack_.size() - k);
          push(r);
          break;
        }
        case 'a': {  // APPEND
          auto v = pop();
          expect(top(), Kind::List, "APPEND")->items.push_back(v);
          break;
        }
        case 'e': {  // APPENDS
          auto vs = pop_to_mark();
          auto& l = expect(top(), Kind::List, "APPENDS")->items;
          l.insert(l.end(), vs.begin(), vs.end());
          break;
        }
        case 's': {  // SETITEM
          auto v = pop();
          auto k = pop();
          expect(top(), Kind::Dict, "SETITEM")->dict.emplace_back(k, v);
          break;
        }
        case 'u': {  // SETITEMS
          auto kv = pop_to_mark();
          if (kv.size() % 2) fail("odd number of items in SETITEMS");
          auto& d = expect(top(), Kind::Dict, "SETITEMS")->dict;
          for (size_t k = 0; k < kv.size(); k += 2) d.emplace_back(kv[k], kv[k + 1]);
          break;
        }
        case 'c': push(global(op.bytes)); break;  // GLOBAL "module\nname\n"
        case 0x93: {                              // STACK_GLOBAL
          auto nm = expect(pop(), Kind::Str, "STACK_GLOBAL");
          auto mod = expect(pop(), Kind::Str, "STACK_GLOBAL");
          auto r = make(Kind::Global);
          r->s = mod->s + "." + nm->s;
          push(r);
          break;
        }
        case 'R': {  // REDUCE
          auto args = expect(pop(), Kind::Tuple, "REDUCE");
          auto fn = pop();
          push(reduce(fn, args->items));
          break;
        }
        case 0x81: {  // NEWOBJ
          pop();
          pop();
          push(make(Kind::Opaque));
          break;
        }
        case 'b': pop(); break;                         // BUILD: the state (an OrderedDict's _metadata) is not needed
        case 'Q': push(persistent_load(pop())); break;  // BINPERSID
        case 'q':
        case 'r': memo_[op.arg] = top(); break;         // BINPUT, LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;  // MEMOIZE
        case 'h':
        case 'j': push(memo_get(op.arg)); break;  // BINGET, LONG_BINGET
        case '0': pop(); break;                   // POP
        case '2': push(top()); break;             // DUP
        default: fail("unsupported pickle opcode 0x" + hex(op.code));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(ErrorKind::kModel, name_ + ": " + why + " (at byte " + std::to_string(pos_) + " of data.pkl)");
  }
  static std::string hex(unsigned v) {
    const char* d = "0123456789abcdef";
    return {d[(v >> 4) & 15], d[v & 15]};
  }
  // LONG1: a little-endian two's complement integer of up to 8 bytes.
  int64_t long1(std::string_view digits) const {
    const size_t len = digits.size();
    if (len > 8) fail("integer wider than 64 bits");
    uint64_t v = 0;
    for (size_t j = 0; j < len; ++j) v |= uint64_t{static_cast<uint8_t>(digits[j])} << (8 * j);
    if (len > 0 && len < 8 && (v >> (8 * len - 1)) & 1) v |= ~uint64_t{0} << (8 * len);
    return static_cast<int64_t>(v);
  }
  Ref global(std::string_view lines) const {
    const size_t cut = lines.find('\n');
    if (cut > 257 || lines.size() - cut - 1 > 257) fail("global name too long");
    auto r = make(Kind::Global);
    r->s = std::string(lines.substr(0, cut)) + "." + std::string(lines.substr(cut + 1));
    return r;
  }
  size_t base() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(Ref r) {
    if (stack_.size() > 100000) fail("pickle stack too deep");
    stack_.push_back(std::move(r));
  }
  void push_bool(bool b) {
    auto r = make(Kind::Bool);
    r->i = b;
    push(r);
  }
  void push_int(int64_t v) {
    auto r = make(Kind::Int);
    r->i = v;
    push(r);
  }
  void push_str(std::string_view bytes) {
    auto r = make(Kind::Str);
    r->s.assign(bytes.data(), bytes.size());
    push(r);
  }
  Ref pop() {
    if (stack_.size() <= base()) fail("pickle stack underflow");
    Ref r = std::move(stack_.back());
    stack_.pop_back();
    return r;
  }
  Ref& top() {
    if (stack_.size() <= base()) fail("pickle stack underflow");
    return stack_.back();
  }
  std::vector<Ref> pop_to_mark() {
    if (marks_.empty()) fail("pickle MARK missing");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ref> r(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return r;
  }
  Ref memo_get(uint64_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) fail("pickle memo entry " + std::to_string(k) + " missing");
    return it->second;
  }
  const Ref& expect(const Ref& r, Kind k, const char* what) {
    if (r->kind != k) fail(std::string(what) + " expected a " + kind_name(k) + ", found a " + kind_name(r->kind));
    return r;
  }
  int64_t int_arg(const Ref& r, const char* what) { return expect(r, Kind::Int, what)->i; }

  Ref reduce(const Ref& fn, const std::vector<Ref>& args) {
    if (fn->kind != Kind::Global) return make(Kind::Opaque);
    const std::string& f = fn->s;
    if (f == "collections.OrderedDict" || f == "builtins.dict") {
      if (!args.empty()) fail(f + " with arguments is not supported");
      return make(Kind::Dict);
    }
    if (f == "torch._utils._rebuild_tensor_v2" || f == "torch._utils._rebuild_tensor") {
      if (args.size() < 4) fail(f + " with too few arguments");
      return rebuild_tensor(args);
    }
    if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
      if (args.empty() || args[0]->kind != Kind::Tensor) fail(f + " without a tensor");
      return args[0];
    }
    return make(Kind::Opaque);
  }

  Ref persistent_load(const Ref& pid) {
    expect(pid, Kind::Tuple, "persistent id");
    const auto& t = pid->items;
    if (t.size() != 5 || t[0]->kind != Kind::Str || t[0]->s != "storage")
      fail("persistent id is not a ('storage', type, key, location, numel) tuple");
    auto r = make(Kind::Storage);
    r->dtype = storage_dtype(expect(t[1], Kind::Global, "storage type")->s);
    r->s = expect(t[2], Kind::Str, "storage key")->s;
    r->numel = int_arg(t[4], "storage size");
    if (r->numel < 0) fail("negative storage size");
    return r;
  }

  at::ScalarType storage_dtype(const std::string& type) {
    static const std::map<std::string, at::ScalarType> types = {
        {"torch.FloatStorage", at::kFloat}, {"torch.DoubleStorage", at::kDouble},
        {"torch.HalfStorage", at::kHalf},   {"torch.BFloat16Storage", at::kBFloat16},
        {"torch.LongStorage", at::kLong},   {"torch.IntStorage", at::kInt},
        {"torch.ShortStorage", at::kShort}, {"torch.CharStorage", at::kChar},
        {"torch.ByteStorage", at::kByte},   {"torch.BoolStorage", at::kBool},
        {"torch.UntypedStorage", at::kByte}};
    auto it = types.find(type);
    if (it == types.end()) fail("unsupported storage type " + type);
    return it->second;
  }

  at::Tensor storage_tensor(const PyObj& st) {
    auto it = storages_.find(st.s);
    if (it != storages_.end()) return it->second;
    const std::string record = "data/" + st.s;
    if (!zip_.hasRecord(record)) fail("tensor data record '" + record + "' missing from the archive");
    auto [ptr, size] = zip_.getRecord(record);
    const size_t elem = at::elementSize(st.dtype);
    if (static_cast<uint64_t>(st.numel) > size / elem)
      fail("tensor data record '" + record + "' holds " + std::to_string(size) + " bytes, " +
           std::to_string(st.numel * elem) + " expected");
    auto t = at::empty({st.numel}, at::TensorOptions().dtype(st.dtype));
    if (st.numel) std::memcpy(t.data_ptr(), ptr.get(), st.numel * elem);
    storages_.emplace(st.s, t);
    return t;
  }

  std::vector<int64_t> int_tuple(const Ref& r, const char* what) {
    if (r->kind != Kind::Tuple && r->kind != Kind::List) fail(std::string(what) + " is not a tuple");
    if (r->items.size() > 16) fail(std::string(what) + " has too many dimensions");
    std::vector<int64_t> v;
    for (const auto& x : r->items) v.push_back(int_arg(x, what));
    return v;
  }

  Ref rebuild_tensor(const std::vector<Ref>& a) {
    const PyObj& st = *expect(a[0], Kind::Storage, "tensor storage");
    const int64_t offset = int_arg(a[1], "storage offset");
    const auto size = int_tuple(a[2], "tensor size");
    const auto stride = int_tuple(a[3], "tensor stride");
    if (size.size() != stride.size()) fail("tensor size and stride differ in length");
    // The view must lie inside the storage; computed so that no product can overflow.
    constexpr int64_t kMax = int64_t{1} << 40;
    if (offset < 0 || offset > kMax) fail("tensor storage offset out of range");
    int64_t last = offset;
    bool empty = false;
    for (size_t d = 0; d < size.size(); ++d) {
      if (size[d] < 0 || stride[d] < 0) fail("negative tensor size or stride");
      if (size[d] == 0) empty = true;
    }
    for (size_t d = 0; d < size.size() && !empty; ++d) {
      if (stride[d] > 0 && size[d] - 1 > (kMax - last) / stride[d]) fail("tensor view out of range");
      last += (size[d] - 1) * stride[d];
    }
    auto r = make(Kind::Tensor);
    if (empty) {
      r->tensor = at::empty(size, at::TensorOptions().dtype(st.dtype));
      return r;
    }
    if (last >= st.numel) fail("tensor view reaches past its storage");
    r->tensor = storage_tensor(st).as_strided(size, stride, offset).clone(at::MemoryFormat::Contiguous);
    return r;
  }

  std::string name_;
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  caffe2::serialize::PyTorchStreamReader& zip_;
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Ref> memo_;
  std::map<std::string, at::Tensor> storages_;
};

// The first bytes of torch.save's legacy format: protocol 2 and the pickled magic number.
bool is_legacy_torch_file(const uint8_t* p, size_t n) {
  static const uint8_t magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  return n >= sizeof magic && std::memcmp(p, magic, sizeof magic) == 0;
}

NamedTensors to_named_tensors(const Ref& root, const std::string& name) {
  if (root->kind != Kind::Dict)
    throw Error(ErrorKind::kModel, name + ": holds a " + kind_name(root->kind) + ", not a state_dict");
  // Training checkpoints sometimes wrap the state_dict; accept {'state_dict': {...}}.
  for (const auto& [k, v] : root->dict)
    if (k->kind == Kind::Str && k->s == "state_dict" && v->kind == Kind::Dict) return to_named_tensors(v, name);
  NamedTensors out;
  for (const auto& [k, v] : root->dict) {
    if (k->kind != Kind::Str)
      throw Error(ErrorKind::kModel, name + ": a state_dict key is a " + std::string(kind_name(k->kind)));
    if (v->kind != Kind::Tensor)
      throw Error(ErrorKind::kModel, name + ": entry '" + k->s + "' is a " + kind_name(v->kind) + ", not a tensor");
    out.emplace_back(k->s, v->tensor);
  }
  return out;
}

}  // namespace

NamedTensors read_state_dict_bytes(const void* data, size_t size, const std::string& name) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (is_legacy_torch_file(p, size))
    throw Error(ErrorKind::kModel, name +
                                       ": saved in PyTorch's legacy (pre-1.6) format; re-save it once with: "
                                       "python3 -c \"import torch; torch.save(torch.load('" +
                                       name + "', map_location='cpu'), 'resaved.pth')\"");
  if (size < 4 || std::memcmp(p, "PK\x03\x04", 4) != 0)
    throw Error(ErrorKind::kModel, name + ": not a PyTorch file (expected the zip archive torch.save writes)");
  try {
    caffe2::serialize::PyTorchStreamReader zip(std::make_shared<MemoryAdapter>(data, size));
    if (!zip.hasRecord("data.pkl"))
      throw Error(ErrorKind::kModel, name + ": no data.pkl in the archive (is it a TorchScript file?)");
    auto [pkl, pkl_size] = zip.getRecord("data.pkl");
    Unpickler u(name, static_cast<const uint8_t*>(pkl.get()), pkl_size, zip);
    return to_named_tensors(u.run(), name);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(ErrorKind::kModel, name + ": damaged or truncated archive (" + e.what_without_backtrace() + ")");
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kModel, name + ": unreadable (" + e.what() + ")");
  }
}

NamedTensors read_state_dict(const std::string& path) {
  if (std::filesystem::is_directory(path)) throw Error(ErrorKind::kModel, path + ": is a directory, not a file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorKind::kModel, path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw Error(ErrorKind::kModel, path + ": read error");
  return read_state_dict_bytes(bytes.data(), bytes.size(), path);
}

}  // namespace cg
