#include "model/official-import.h"

#include "model/safetensors.h"

#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <regex>
#include <sstream>

namespace cg {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_running_stat(const std::string& key) {
  return ends_with(key, ".running_mean") || ends_with(key, ".running_var");
}

std::string shape_text(c10::IntArrayRef s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

// A family --arch names and the GeneratorOptions switches that make it.
struct Variant {
  std::string arch;
  Family family = Family::kResnet;
  bool antialias_down = false, antialias_up = false, upsample_conv = false, mobile = false;
};

const std::vector<Variant>& variants() {
  static const std::vector<Variant> v = [] {
    std::vector<Variant> all;
    all.push_back({"resnet"});
    Variant mobile{"resnet"};
    mobile.mobile = true;
    all.push_back(mobile);
    Variant nearest{"resnet-upsample"};
    nearest.upsample_conv = true;
    all.push_back(nearest);
    // CUT's --no_antialias and --no_antialias_up are independent; with both it is "resnet".
    for (auto [down, up] : {std::pair{true, true}, {true, false}, {false, true}}) {
      Variant cut{"cut-resnet"};
      cut.antialias_down = down;
      cut.antialias_up = up;
      all.push_back(cut);
    }
    Variant unet{"unet"};
    unet.family = Family::kUnet;
    all.push_back(unet);
    return all;
  }();
  return v;
}

// The state_dict's tensors that matter, in file order, without a DataParallel "module." prefix
// and without BatchNorm's step counter.
NamedTensors usable(const NamedTensors& state) {
  NamedTensors out;
  for (const auto& [k, t] : state) {
    if (ends_with(k, ".num_batches_tracked")) continue;
    out.emplace_back(k.rfind("module.", 0) == 0 ? k.substr(7) : k, t);
  }
  return out;
}

// How far a candidate got: the number of its tensors that fitted before the first that did not,
// and what went wrong there ("" when everything fitted).
struct Fit {
  GeneratorOptions options;
  const Variant* variant = nullptr;
  bool by_name = true;
  size_t fitted = 0;
  std::string problem;
  NamedTensors tensors;  // under the layout's keys
};

bool is_blur_filter(const TensorSpec& s) { return ends_with(s.key, ".filt"); }

std::string describe(const GeneratorOptions& o) {
  std::string s = architecture_name(o) + " (" + norm_name(o.norm) + " norm";
  if (o.use_dropout) s += ", dropout";
  if (o.antialias_down || o.antialias_up)
    s += o.antialias_down && o.antialias_up ? ", anti-aliased"
         : o.antialias_down                 ? ", anti-aliased down"
                                            : ", anti-aliased up";
  if (o.upsample_conv) s += ", upsample + conv";
  return s + ")";
}

// Every tensor is looked at, so that closeness counts all that fit, not only those before the
// first that does not.
Fit fit_by_name(const GeneratorOptions& o, const std::map<std::string, at::Tensor>& by_key) {
  Fit f;
  f.options = o;
  auto left = by_key;
  const auto problem = [&](std::string p) {
    if (f.problem.empty()) f.problem = std::move(p);
  };
  for (const TensorSpec& s : state_dict_layout(o)) {
    auto it = left.find(s.key);
    if (it == left.end()) {
      if (!is_blur_filter(s)) problem("missing key '" + s.key + "' of shape " + shape_text(s.shape));
      continue;
    }
    if (it->second.sizes() != c10::IntArrayRef(s.shape)) {
      problem("key '" + s.key + "' has shape " + shape_text(it->second.sizes()) + ", expected " + shape_text(s.shape));
    } else {
      f.tensors.emplace_back(s.key, it->second);
      ++f.fitted;
    }
    left.erase(it);
  }
  // Instance norms keep no statistics, but files written before PyTorch 0.4 carry them.
  for (const auto& [k, t] : left) {
    if (o.norm != Norm::kBatch && is_running_stat(k)) continue;
    problem("unexpected key '" + k + "' of shape " + shape_text(t.sizes()));
    f.fitted = f.fitted > 0 ? f.fitted - 1 : 0;
  }
  return f;
}

Fit fit_by_order(const GeneratorOptions& o, const NamedTensors& file, bool with_filters) {
  Fit f;
  f.options = o;
  f.by_name = false;
  auto specs = state_dict_layout(o);
  if (!with_filters) specs.erase(std::remove_if(specs.begin(), specs.end(), is_blur_filter), specs.end());
  size_t i = 0;
  for (const auto& [k, t] : file) {
    if (o.norm != Norm::kBatch && is_running_stat(k)) continue;
    if (i == specs.size()) {
      f.problem = "tensor '" + k + "' of shape " + shape_text(t.sizes()) + " is one more than a " + describe(o) +
                  " has (" + std::to_string(specs.size()) + ")";
      return f;
    }
    if (t.sizes() != c10::IntArrayRef(specs[i].shape)) {
      f.problem = "tensor #" + std::to_string(i + 1) + " '" + k + "' has shape " + shape_text(t.sizes()) +
                  ", expected " + shape_text(specs[i].shape) + " (" + specs[i].key + " of a " + describe(o) + ")";
      return f;
    }
    f.tensors.emplace_back(specs[i].key, t);
    ++f.fitted;
    ++i;
  }
  if (i < specs.size())
    f.problem = "the tensors end after #" + std::to_string(i) + "; a " + describe(o) + " continues with '" +
                specs[i].key + "' of shape " + shape_text(specs[i].shape);
  return f;
}

constexpr int64_t kMaxChannels = int64_t{1} << 16;
constexpr int64_t kMaxBlocks = 64;

// The channel counts from the first and the final weight, so that every other shape can be checked.
bool set_channels(GeneratorOptions& o, const at::Tensor& first, const at::Tensor& final_weight) {
  if (first.dim() != 4 || final_weight.dim() != 4) return false;
  o.ngf = first.size(0);
  o.input_nc = first.size(1);
  o.output_nc = final_weight.size(o.family == Family::kUnet ? 1 : 0);
  return o.ngf <= kMaxChannels && o.input_nc <= kMaxChannels && o.output_nc <= kMaxChannels;
}

// The key of the final layer's weight, which holds the output channels.
std::string final_weight_key(const GeneratorOptions& o) {
  std::string key;
  for (const TensorSpec& s : state_dict_layout(o))
    if (s.shape.size() == 4 && ends_with(s.key, ".weight")) key = s.key;
  return key;
}

// Candidates whose keys are the official ones: the block count comes from the block indices, the
// U-Net depth from the nesting.
std::vector<Fit> by_name(const NamedTensors& file, const std::vector<const Variant*>& vs, bool& implausible) {
  std::map<std::string, at::Tensor> by_key(file.begin(), file.end());
  static const std::regex block(R"(model\.(\d+)\.conv_block\..*)");
  int64_t last_block = -1, depth = 0;
  for (const auto& [k, t] : file) {
    std::smatch m;
    // Index digits beyond 4 cannot be a block (and would overflow stoll).
    if (std::regex_match(k, m, block))
      last_block = std::max<int64_t>(last_block, m[1].length() > 4 ? 99999 : std::stoll(m[1]));
    if (k.rfind("model.model.", 0) == 0)
      depth = std::max<int64_t>(depth, std::count(k.begin(), k.end(), '.') / 2);  // "model.model.1.model.3.w"
  }
  std::vector<Fit> fits;
  for (const Variant* v : vs) {
    for (Norm n : {Norm::kInstance, Norm::kBatch, Norm::kNone, Norm::kInstanceAffine}) {
      for (bool dropout : {false, true}) {
        if (dropout && v->family == Family::kUnet) continue;  // dropout leaves no trace in a U-Net's keys
        GeneratorOptions o;
        o.family = v->family;
        o.norm = n;
        o.use_dropout = dropout;
        o.mobile = v->mobile;
        o.antialias_down = v->antialias_down;
        o.antialias_up = v->antialias_up;
        o.upsample_conv = v->upsample_conv;
        if (o.family == Family::kUnet) {
          o.unet_downs = depth;  // block k's keys have 2k + 1 dots; the innermost is block num_downs
          if (o.unet_downs < 5 || o.unet_downs > 12) continue;
        } else {
          o.n_blocks = 1;
          const auto blocks =
              positions_of(generator_layers(o), o.mobile ? LayerKind::kMobileResidual : LayerKind::kResidual);
          o.n_blocks = last_block - blocks.front() + 1;
          if (o.n_blocks > kMaxBlocks) {
            implausible = true;
            continue;
          }
          if (o.n_blocks < 1) continue;
        }
        const auto first = by_key.find(state_dict_layout(o).front().key);
        const auto final_weight = by_key.find(final_weight_key(o));
        if (first == by_key.end() || final_weight == by_key.end()) continue;
        if (!set_channels(o, first->second, final_weight->second)) continue;
        Fit f = fit_by_name(o, by_key);
        f.variant = v;
        fits.push_back(std::move(f));
      }
    }
  }
  return fits;
}

// Candidates matched by tensor order and shapes alone: the block count or depth is the one that
// gives the file's number of tensors.
std::vector<Fit> by_order(const NamedTensors& file, const std::vector<const Variant*>& vs, bool bare_cut) {
  std::vector<Fit> fits;
  at::Tensor first, last4d;
  for (const auto& [k, t] : file) {
    if (t.dim() != 4) continue;
    if (!first.defined()) first = t;
    if (!ends_with(k, "filt")) last4d = t;
  }
  if (!first.defined()) return fits;
  for (const Variant* v : vs) {
    for (Norm n : {Norm::kInstance, Norm::kBatch, Norm::kNone, Norm::kInstanceAffine}) {
      GeneratorOptions o;
      o.family = v->family;
      o.norm = n;
      o.mobile = v->mobile;
      o.antialias_down = v->antialias_down;
      o.antialias_up = v->antialias_up;
      o.upsample_conv = v->upsample_conv;
      if (!set_channels(o, first, last4d)) continue;
      size_t count = 0;
      for (const auto& [k, t] : file)
        if (n == Norm::kBatch || !is_running_stat(k)) ++count;
      Fit best;
      // Without its blur filters a CUT file has the same shapes as other ResNets, so it is read that
      // way only when --arch cut-resnet says so, and then as CUT's default (anti-aliased both ways:
      // without the filters the way down looks the same either way).
      const bool default_cut = o.antialias_down && o.antialias_up;
      for (bool with_filters : {true, false}) {
        if (!with_filters && !(default_cut && bare_cut)) continue;
        const auto tensors_of = [&](const GeneratorOptions& g) {
          auto specs = state_dict_layout(g);
          if (!with_filters) specs.erase(std::remove_if(specs.begin(), specs.end(), is_blur_filter), specs.end());
          return static_cast<int64_t>(specs.size());
        };
        // The depth or block count whose tensor count is the file's (else the nearest, to report).
        // A ResNet's count grows by the same number of tensors per block.
        std::vector<int64_t> depths;
        if (o.family == Family::kUnet) {
          for (int64_t d = 5; d <= 12; ++d) depths.push_back(d);
        } else {
          o.n_blocks = 0;
          const int64_t base = tensors_of(o);
          o.n_blocks = 1;
          const int64_t per = std::max<int64_t>(tensors_of(o) - base, 1);
          depths.push_back(std::clamp<int64_t>((static_cast<int64_t>(count) - base) / per, 0, kMaxBlocks));
        }
        for (int64_t d : depths) {
          (o.family == Family::kUnet ? o.unet_downs : o.n_blocks) = d;
          Fit f = fit_by_order(o, file, with_filters);
          if (best.variant == nullptr || f.fitted > best.fitted || (f.problem.empty() && !best.problem.empty())) {
            best = std::move(f);
            best.variant = v;
          }
        }
      }
      // Mobile blocks without blocks are the plain generator.
      if (best.variant && !(best.options.mobile && best.options.n_blocks == 0)) fits.push_back(std::move(best));
    }
  }
  return fits;
}

Error no_fit(const std::string& name, const std::vector<Fit>& fits) {
  if (fits.empty())
    return Error(ErrorKind::kModel, name +
                                        ": not a generator state_dict this importer knows (no 4-dimensional "
                                        "convolution weight where a generator's first layer would be)");
  const Fit* closest = &fits.front();
  for (const Fit& f : fits)
    if (f.fitted > closest->fitted) closest = &f;
  return Error(ErrorKind::kModel,
               name + ": not a generator this importer knows; closest: " + describe(closest->options) +
                   (closest->by_name ? " by key names" : " by tensor order") + ", where " + closest->problem);
}

}  // namespace

const std::vector<std::string>& import_architectures() {
  static const std::vector<std::string> a{"resnet", "resnet-upsample", "cut-resnet", "unet"};
  return a;
}

RecognisedGenerator recognise_generator(const NamedTensors& state, const std::string& name, const std::string& arch) {
  if (!arch.empty() &&
      std::find(import_architectures().begin(), import_architectures().end(), arch) == import_architectures().end())
    throw Error(ErrorKind::kModel, "--arch " + arch + " is not known (resnet, resnet-upsample, cut-resnet or unet)");
  std::vector<const Variant*> vs;
  for (const Variant& v : variants())
    if (arch.empty() || v.arch == arch) vs.push_back(&v);
  const NamedTensors file = usable(state);
  bool implausible = false;
  std::vector<Fit> tried = by_name(file, vs, implausible);
  std::vector<const Fit*> fits;
  for (const Fit& f : tried)
    if (f.problem.empty()) fits.push_back(&f);
  // Official keys decide; only a file that fits nothing by name is matched by order and shape.
  if (fits.empty()) {
    if (implausible)
      throw Error(ErrorKind::kModel, name + ": implausible block count (over " + std::to_string(kMaxBlocks) + ")");
    const bool official_keys = !tried.empty();
    auto ordered = by_order(file, vs, arch == "cut-resnet");
    for (const Fit& f : ordered)
      if (f.problem.empty()) fits.push_back(&f);
    if (fits.empty()) throw no_fit(name, official_keys ? tried : ordered);
    tried.insert(tried.end(), std::make_move_iterator(ordered.begin()), std::make_move_iterator(ordered.end()));
    fits.clear();
    for (const Fit& f : tried)
      if (f.problem.empty()) fits.push_back(&f);
  }
  if (fits.size() > 1) {
    std::string list;
    for (const Fit* f : fits) list += (list.empty() ? "" : ", ") + f->variant->arch + " = " + describe(f->options);
    throw Error(ErrorKind::kModel, name + ": fits more than one architecture (" + list + "); choose one with --arch");
  }
  const Fit& f = *fits.front();
  const GeneratorOptions& o = f.options;
  if (o.ngf < 1 || o.input_nc < 1 || o.output_nc < 1)
    throw Error(ErrorKind::kModel, name + ": empty convolution (ngf " + std::to_string(o.ngf) + ", " +
                                       std::to_string(o.input_nc) + " input and " + std::to_string(o.output_nc) +
                                       " output channels)");
  for (const auto& [key, t] : f.tensors)
    if (!at::isFloatingType(t.scalar_type()))
      throw Error(ErrorKind::kModel, name + ": a " + describe(o) + " whose tensors are not all floating-point");
  return {o, f.variant->arch, f.by_name, f.tensors};
}

void load_recognised(Generator& g, const RecognisedGenerator& r, const std::string& name) {
  auto into = state_tensors(*g);
  torch::NoGradGuard no_grad;
  for (const auto& [key, t] : r.tensors) {
    auto* to = into.find(key);
    if (to == nullptr || to->sizes() != t.sizes())
      throw Error(ErrorKind::kModel, name + ": internal: the generator has no tensor '" + key + "' of that shape");
    to->copy_(t);
  }
}

GeneratorOptions infer_generator_options(const NamedTensors& state, const std::string& name, const std::string& arch) {
  return recognise_generator(state, name, arch).options;
}

NamedTensors read_weights(const std::string& path) {
  return is_safetensors_file(path) ? read_safetensors(path).tensors : read_state_dict(path);
}

Generator import_official_generator(const std::string& weights_path, const std::string& arch) {
  const auto r = recognise_generator(read_weights(weights_path), weights_path, arch);
  Generator g(r.options);
  load_recognised(g, r, weights_path);
  g->eval();
  return g;
}

}  // namespace cg
