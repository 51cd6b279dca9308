#include "trainer/data/aligned-dataset.h"

#include "trainer/data/image-io.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <numeric>

namespace cg {

namespace fs = std::filesystem;

namespace {

// Streams of their own, apart from UnalignedDataset's, so the two never share draws by accident.
enum Purpose : uint64_t { kOrder = 11, kAugment = 12 };

}  // namespace

std::pair<cv::Mat, cv::Mat> split_aligned(const cv::Mat& ab, const std::string& path) {
  if (ab.cols < 2)
    throw Error(ErrorKind::kUsage, path + ": " + std::to_string(ab.cols) +
                                       " pixel(s) wide, too narrow to split into A (left half) and B (right half)");
  const int w = ab.cols / 2;
  return {ab(cv::Rect(0, 0, w, ab.rows)), ab(cv::Rect(w, 0, w, ab.rows))};
}

AlignedDataset::AlignedDataset(const DataOptions& o) : o_(o), order_(kOrder) {
  std::error_code ec;
  if (o.dataroot.empty()) throw Error(ErrorKind::kUsage, "--dataroot is required");
  if (!fs::is_directory(o.dataroot, ec))
    throw Error(ErrorKind::kUsage, o.dataroot + ": dataroot is not an existing folder");
  const std::string dir = folder();
  if (!fs::is_directory(dir, ec))
    throw Error(ErrorKind::kUsage, dir + ": no such folder (an aligned dataset has " + o.phase +
                                       "/ of AB images, A on the left half and B on the right, as the official "
                                       "pix2pix layout)");
  files_ = list_images(dir);
  if (files_.empty()) throw Error(ErrorKind::kUsage, dir + ": no images (jpg, jpeg, png, bmp or webp)");
  if (size() > o.max_dataset_size) files_.resize(static_cast<size_t>(o.max_dataset_size));
}

std::string AlignedDataset::folder() const { return (fs::path(o_.dataroot) / o_.phase).string(); }

int64_t AlignedDataset::batches_per_epoch() const { return shard_batches(o_, size()); }

std::vector<int64_t> AlignedDataset::order(uint64_t seed, int epoch) const {
  return order_.get(size(), o_.serial_batches, seed, epoch);
}

AlignedDataset::Item AlignedDataset::load(int64_t file_index, Rng& rng) const {
  const int64_t n = size();
  for (int64_t k = 0; k < n; ++k) {
    const std::string& path = files_[static_cast<size_t>((file_index + k) % n)];
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (bad_.count(path)) continue;
    }
    cv::Mat ab;
    try {
      ab = read_rgb(path);
    } catch (const Error&) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (bad_.insert(path).second) bad_order_.push_back(path);
      continue;
    }
    // A readable image that cannot be split is a mistake in the dataset, not damage: stop.
    auto [left, right] = split_aligned(ab, path);
    auto [a, b] = preprocess_pair(left, right, o_.preprocess, rng);
    if (a.upscaled) ++upscaled_;
    if (o_.swap_domains) std::swap(a, b);
    return {image_to_tensor(a.image), image_to_tensor(b.image), path};
  }
  throw Error(ErrorKind::kUsage, folder() + ": none of its " + std::to_string(n) + " images could be read");
}

Batch AlignedDataset::batch(uint64_t seed, int epoch, int64_t index) const {
  const auto items = batch_items(o_, size(), index);
  const auto ord = order(seed, epoch);
  std::vector<at::Tensor> as, bs;
  Batch b;
  for (const ShardItem& i : items) {
    Rng rng(derive_seed(seed, kAugment, static_cast<uint64_t>(epoch), static_cast<uint64_t>(i.position)));
    auto it = load(ord[static_cast<size_t>(i.slot)], rng);
    as.push_back(it.A);
    bs.push_back(it.B);
    b.paths_A.push_back(it.path);
    b.paths_B.push_back(it.path);
  }
  for (size_t i = 1; i < as.size(); ++i)
    if (as[i].sizes() != as[0].sizes())
      throw Error(ErrorKind::kUsage, "images of different sizes in one batch (" + b.paths_A[0] + ", " + b.paths_A[i] +
                                         "); use --batch-size 1 with --preprocess none or scale_width");
  b.A = stack_images(as);
  b.B = stack_images(bs);
  return b;
}

at::Tensor AlignedDataset::fixed_image(bool domain_B, int64_t i) const {
  const PreprocessOptions p = fixed_view(o_.preprocess);
  Rng rng(0);
  for (size_t k = 0; k < files_.size(); ++k) {
    const std::string& path = files_[(static_cast<size_t>(i) + k) % files_.size()];
    cv::Mat ab;
    try {
      ab = read_rgb(path);
    } catch (const Error&) {
      continue;
    }
    auto [left, right] = split_aligned(ab, path);
    const bool take_right = domain_B != o_.swap_domains;
    auto r = preprocess(take_right ? right : left, p, rng);
    return image_to_tensor(r.image);
  }
  throw Error(ErrorKind::kUsage, folder() + ": no readable image for the samples");
}

DataProblems AlignedDataset::problems() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {bad_order_, upscaled_.load()};
}

std::string AlignedDataset::describe() const {
  return std::to_string(files_.size()) + " aligned A|B images in " + folder();
}

}  // namespace cg
