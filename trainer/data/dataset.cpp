#include "trainer/data/dataset.h"

#include "trainer/data/image-io.h"
#include "trainer/train/options.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <numeric>

namespace cg {

namespace fs = std::filesystem;

namespace {

enum Purpose : uint64_t { kOrder = 1, kPickB = 2, kAugmentA = 3, kAugmentB = 4 };

std::vector<std::string> domain_files(const DataOptions& o, const std::string& domain) {
  const std::string dir = (fs::path(o.dataroot) / (o.phase + domain)).string();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(ErrorKind::kUsage, dir + ": no such folder (a dataset needs " + o.phase + "A and " + o.phase +
                                       "B, as the official layout)");
  std::vector<std::string> files = list_images(dir);
  if (files.empty()) throw Error(ErrorKind::kUsage, dir + ": no images (jpg, jpeg, png, bmp or webp)");
  if (static_cast<int64_t>(files.size()) > o.max_dataset_size) files.resize(static_cast<size_t>(o.max_dataset_size));
  return files;
}

}  // namespace

std::vector<int64_t> EpochOrder::get(int64_t size, bool serial, uint64_t seed, int epoch) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (epoch_ == epoch && seed_ == seed && static_cast<int64_t>(cache_.size()) == size) return cache_;
  std::vector<int64_t> idx(static_cast<size_t>(size));
  std::iota(idx.begin(), idx.end(), 0);
  if (!serial) {
    Rng rng(derive_seed(seed, purpose_, static_cast<uint64_t>(epoch)));
    for (size_t i = idx.size(); i > 1; --i) std::swap(idx[i - 1], idx[rng.below(i)]);
  }
  cache_ = idx;
  epoch_ = epoch;
  seed_ = seed;
  return idx;
}

int64_t shard_size(const DataOptions& o, int64_t items) { return (items + o.ranks - 1) / o.ranks; }

int64_t shard_batches(const DataOptions& o, int64_t items) {
  return (shard_size(o, items) + o.batch_size - 1) / o.batch_size;
}

std::vector<ShardItem> batch_items(const DataOptions& o, int64_t items, int64_t index) {
  const int64_t begin = index * o.batch_size, end = std::min(shard_size(o, items), begin + o.batch_size);
  if (begin >= end) throw std::out_of_range("batch index past the end of the epoch");
  std::vector<ShardItem> out;
  for (int64_t k = begin; k < end; ++k) {
    const int64_t position = k * o.ranks + o.rank;
    out.push_back({position, position % items});
  }
  return out;
}

at::Tensor stack_images(const std::vector<at::Tensor>& v) {
  std::vector<int64_t> shape{static_cast<int64_t>(v.size())};
  for (auto s : v[0].sizes()) shape.push_back(s);
  auto out = at::empty(shape, at::kFloat);
  const size_t n = static_cast<size_t>(v[0].numel());
  for (size_t i = 0; i < v.size(); ++i)
    std::memcpy(out.data_ptr<float>() + i * n, v[i].data_ptr<float>(), n * sizeof(float));
  return out;
}

PreprocessOptions fixed_view(PreprocessOptions p) {
  p.flip = false;
  if (resizes_before_crop(p.mode)) p.load_size = p.crop_size;
  return p;
}

UnalignedDataset::UnalignedDataset(const DataOptions& o) : o_(o), order_(kOrder) {
  std::error_code ec;
  if (o.dataroot.empty()) throw Error(ErrorKind::kUsage, "--dataroot is required");
  if (!fs::is_directory(o.dataroot, ec))
    throw Error(ErrorKind::kUsage, o.dataroot + ": dataroot is not an existing folder");
  files_A_ = domain_files(o, "A");
  files_B_ = domain_files(o, "B");
  if (o.swap_domains) std::swap(files_A_, files_B_);
}

int64_t UnalignedDataset::size() const { return static_cast<int64_t>(std::max(files_A_.size(), files_B_.size())); }

int64_t UnalignedDataset::batches_per_epoch() const { return shard_batches(o_, size()); }

std::vector<int64_t> UnalignedDataset::order(uint64_t seed, int epoch) const {
  return order_.get(size(), o_.serial_batches, seed, epoch);
}

UnalignedDataset::Item UnalignedDataset::load(bool domain_B, int64_t file_index, Rng& rng) const {
  const auto& files = domain_B ? files_B_ : files_A_;
  const int64_t n = static_cast<int64_t>(files.size());
  for (int64_t k = 0; k < n; ++k) {
    const std::string& path = files[static_cast<size_t>((file_index + k) % n)];
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (bad_.count(path)) continue;
    }
    cv::Mat rgb;
    try {
      rgb = read_rgb(path);
    } catch (const Error&) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (bad_.insert(path).second) bad_order_.push_back(path);
      continue;
    }
    auto r = preprocess(rgb, o_.preprocess, rng);
    if (r.upscaled) ++upscaled_;
    return {image_to_tensor(r.image), path};
  }
  const std::string dir = (fs::path(o_.dataroot) / (o_.phase + ((domain_B != o_.swap_domains) ? "B" : "A"))).string();
  throw Error(ErrorKind::kUsage, dir + ": none of its " + std::to_string(n) + " images could be read");
}

Batch UnalignedDataset::batch(uint64_t seed, int epoch, int64_t index) const {
  const auto items = batch_items(o_, size(), index);
  const auto ord = order(seed, epoch);
  const int64_t nA = static_cast<int64_t>(files_A_.size()), nB = static_cast<int64_t>(files_B_.size());
  std::vector<at::Tensor> as, bs;
  Batch b;
  for (const ShardItem& it : items) {
    const int64_t item = ord[static_cast<size_t>(it.slot)];
    const uint64_t pos = static_cast<uint64_t>(it.position), ep = static_cast<uint64_t>(epoch);
    int64_t ib = item % nB;
    if (!o_.serial_batches)
      ib = static_cast<int64_t>(Rng(derive_seed(seed, kPickB, ep, pos)).below(static_cast<uint64_t>(nB)));
    Rng ra(derive_seed(seed, kAugmentA, ep, pos)), rb(derive_seed(seed, kAugmentB, ep, pos));
    auto a = load(false, item % nA, ra);
    auto bb = load(true, ib, rb);
    as.push_back(a.image);
    bs.push_back(bb.image);
    b.paths_A.push_back(a.path);
    b.paths_B.push_back(bb.path);
  }
  for (const auto* v : {&as, &bs})
    for (const auto& t : *v)
      if (t.sizes() != as[0].sizes())
        throw Error(ErrorKind::kUsage, "images of different sizes in one batch (" + b.paths_A[0] +
                                           "); use --batch-size 1 with --preprocess none or scale_width");
  b.A = stack_images(as);
  b.B = stack_images(bs);
  return b;
}

at::Tensor UnalignedDataset::fixed_image(bool domain_B, int64_t i) const {
  const PreprocessOptions p = fixed_view(o_.preprocess);
  Rng rng(0);
  const auto& files = domain_B ? files_B_ : files_A_;
  for (size_t k = 0; k < files.size(); ++k) {
    const std::string& path = files[(static_cast<size_t>(i) + k) % files.size()];
    try {
      auto r = preprocess(read_rgb(path), p, rng);
      return image_to_tensor(r.image);
    } catch (const Error&) {
    }
  }
  throw Error(ErrorKind::kUsage, "no readable image for the samples");
}

std::string UnalignedDataset::describe() const {
  return std::to_string(files_A_.size()) + " images in A, " + std::to_string(files_B_.size()) + " in B";
}

DataProblems UnalignedDataset::problems() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {bad_order_, upscaled_.load()};
}

}  // namespace cg
