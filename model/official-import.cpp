#include "model/official-import.h"

#include <torch/torch.h>

#include <map>
#include <regex>
#include <sstream>

namespace cg {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_running_stat(const std::string& key) {
  return ends_with(key, ".running_mean") || ends_with(key, ".running_var") || ends_with(key, ".num_batches_tracked");
}

std::string shape(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

// Keys that matter, without the "module." prefix nn.DataParallel adds.
std::map<std::string, at::Tensor> weights_of(const NamedTensors& state) {
  std::map<std::string, at::Tensor> w;
  for (const auto& [k, t] : state) {
    if (is_running_stat(k)) continue;
    w[k.rfind("module.", 0) == 0 ? k.substr(7) : k] = t;
  }
  return w;
}

const at::Tensor& require(const std::map<std::string, at::Tensor>& w, const std::string& key, int64_t dim,
                          const std::string& name) {
  auto it = w.find(key);
  if (it == w.end())
    throw Error(ErrorKind::kModel, name + ": not a ResnetGenerator state_dict (missing key '" + key + "')");
  if (it->second.dim() != dim)
    throw Error(ErrorKind::kModel, name + ": key '" + key + "' has shape " + shape(it->second) + ", expected " +
                                       std::to_string(dim) + " dimensions");
  return it->second;
}

}  // namespace

GeneratorOptions infer_generator_options(const NamedTensors& state, const std::string& name) {
  const auto w = weights_of(state);
  // Where the layers sit comes from the layout; with one block, so that the first block's place
  // is known. Dropout sits inside a block and moves the block's second conv to a place of its own.
  const Layers layout = generator_layers(GeneratorOptions{});
  const int64_t first_conv = positions_of(layout, LayerKind::kConv).front();
  const int64_t first_block = positions_of(layout, LayerKind::kResidual).front();
  const int64_t dropout_conv = positions_of(residual_layers(1, true), LayerKind::kConv).back();
  GeneratorOptions o;
  const auto& first = require(w, "model." + std::to_string(first_conv) + ".weight", 4, name);
  o.ngf = first.size(0);
  o.input_nc = first.size(1);
  static const std::regex block(R"(model\.(\d+)\.conv_block\.(\d+)\.weight)");
  int64_t n_blocks = 0;
  for (const auto& [k, t] : w) {
    std::smatch m;
    if (!std::regex_match(k, m, block)) continue;
    // Index digits beyond 4 cannot be a block (and would overflow stoll); the cap below refuses them.
    n_blocks = std::max<int64_t>(n_blocks, m[1].length() > 4 ? 1000 : std::stoll(m[1]) - first_block + 1);
    if (m[2] == std::to_string(dropout_conv)) o.use_dropout = true;
  }
  if (n_blocks <= 0) throw Error(ErrorKind::kModel, name + ": not a ResnetGenerator state_dict (no residual blocks)");
  if (n_blocks > 64) throw Error(ErrorKind::kModel, name + ": implausible block count " + std::to_string(n_blocks));
  o.n_blocks = n_blocks;
  const int64_t last_conv = positions_of(generator_layers(o), LayerKind::kConv).back();
  o.output_nc = require(w, "model." + std::to_string(last_conv) + ".weight", 4, name).size(0);
  if (o.ngf < 1 || o.input_nc < 1 || o.output_nc < 1)
    throw Error(ErrorKind::kModel, name + ": empty convolution (ngf " + std::to_string(o.ngf) + ", " +
                                       std::to_string(o.input_nc) + " input and " + std::to_string(o.output_nc) +
                                       " output channels)");
  return o;
}

void load_official_state(ResnetGenerator& g, const NamedTensors& state, const std::string& name) {
  auto w = weights_of(state);
  torch::NoGradGuard no_grad;
  for (auto& p : g->named_parameters()) {
    auto it = w.find(p.key());
    if (it == w.end())
      throw Error(ErrorKind::kModel, name + ": missing key '" + p.key() + "' of shape " + shape(p.value()));
    if (it->second.sizes() != p.value().sizes())
      throw Error(ErrorKind::kModel,
                  name + ": key '" + p.key() + "' has shape " + shape(it->second) + ", expected " + shape(p.value()));
    if (!at::isFloatingType(it->second.scalar_type()))
      throw Error(ErrorKind::kModel, name + ": key '" + p.key() + "' is not a floating-point tensor");
    p.value().copy_(it->second);
    w.erase(it);
  }
  if (!w.empty())
    throw Error(ErrorKind::kModel, name + ": unexpected key '" + w.begin()->first + "' of shape " +
                                       shape(w.begin()->second) + " for a resnet_" +
                                       std::to_string(g->options().n_blocks) + "blocks generator");
}

ResnetGenerator import_official_generator(const std::string& pth_path) {
  const auto state = read_state_dict(pth_path);
  ResnetGenerator g(infer_generator_options(state, pth_path));
  load_official_state(g, state, pth_path);
  g->eval();
  return g;
}

}  // namespace cg
