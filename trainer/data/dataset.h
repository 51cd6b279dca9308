// The official "unaligned" dataset: DATAROOT/{phase}A and {phase}B, an epoch of max(|A|, |B|)
// items in shuffled order, each A image paired with a B image drawn at random.
#pragma once

#include "trainer/data/preprocess.h"

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace cg {

struct DataOptions {
  std::string dataroot;
  std::string phase = "train";
  bool swap_domains = false;  // --direction BtoA
  PreprocessOptions preprocess;
  int64_t max_dataset_size = INT64_MAX;
  bool serial_batches = false;
  int64_t batch_size = 1;  // per rank
  // A distributed run: this rank's shard of every epoch (batch_items).
  int rank = 0;
  int ranks = 1;
};

struct Batch {
  at::Tensor A, B;  // N x 3 x H x W in [-1, 1]
  std::vector<std::string> paths_A, paths_B;
};

// Counts of what went wrong while reading, for the user.
struct DataProblems {
  std::vector<std::string> skipped;  // unreadable or corrupt files, in the order found
  int64_t upscaled = 0;              // images smaller than the crop, enlarged
};

// An epoch's order of `size` items: shuffled by (seed, epoch) unless --serial-batches, and kept
// for the epoch being read, since each of its batches asks for it. `purpose` keeps the shuffles
// of different datasets independent.
class EpochOrder {
 public:
  explicit EpochOrder(uint64_t purpose) : purpose_(purpose) {}
  std::vector<int64_t> get(int64_t size, bool serial, uint64_t seed, int epoch) const;

 private:
  uint64_t purpose_;
  mutable std::mutex mutex_;
  mutable std::vector<int64_t> cache_;
  mutable int epoch_ = -1;
  mutable uint64_t seed_ = 0;
};

// DistributedSampler's rule, the one both datasets shard by: an epoch of `items` is padded by
// wrapping to a multiple of o.ranks, and item k of this rank's shard is the epoch's item
// k * ranks + rank.
int64_t shard_size(const DataOptions& o, int64_t items);  // items / ranks, rounded up
int64_t shard_batches(const DataOptions& o, int64_t items);
struct ShardItem {
  int64_t position;  // in the whole padded epoch: what the item's randomness follows
  int64_t slot;      // in the epoch's order of `items`: the position wrapped
};
// The items of batch `index` of this rank's shard; throws std::out_of_range past the shard's end.
std::vector<ShardItem> batch_items(const DataOptions& o, int64_t items, int64_t index);

// A batch's images as one N x C x H x W tensor, copied by hand: at::stack would run on LibTorch's
// OpenMP pool from a loader thread, and libgomp gives every such thread a team of its own,
// oversubscribing the cores.
at::Tensor stack_images(const std::vector<at::Tensor>& images);

// The preprocessing of the view samples show, the same every time so that epochs compare: no
// flip, and the crop modes load at the crop size so the (fixed) crop covers the whole image.
PreprocessOptions fixed_view(PreprocessOptions p);

// What the training loop and the Loader need of a dataset, so the unaligned and the aligned one
// (aligned-dataset.h) train through the same loop.
class TrainingData {
 public:
  virtual ~TrainingData() = default;
  virtual int64_t batches_per_epoch() const = 0;  // on each rank
  // Batch `index` of this rank's shard of `epoch`, a function of (seed, epoch, index, rank) and
  // the files only: any thread may build any batch in any order.
  virtual Batch batch(uint64_t seed, int epoch, int64_t index) const = 0;
  // One image as training sees it, without randomness (no crop offset, no flip): for samples.
  virtual at::Tensor fixed_image(bool domain_B, int64_t i) const = 0;
  virtual DataProblems problems() const = 0;
  // The images it holds, for the banner ("12 images in A, 10 in B").
  virtual std::string describe() const = 0;
};

class UnalignedDataset : public TrainingData {
 public:
  // Lists both domains; throws Error for a missing dataroot or domain folder, or a domain
  // without images.
  explicit UnalignedDataset(const DataOptions& o);

  int64_t size() const;                        // items per epoch: max(|A|, |B|)
  int64_t batches_per_epoch() const override;  // on each rank
  const std::vector<std::string>& files_A() const { return files_A_; }
  const std::vector<std::string>& files_B() const { return files_B_; }
  const DataOptions& options() const { return o_; }

  // Batch `index` of this rank's shard of `epoch`. Depends only on (seed, epoch, index, rank)
  // and the files, so any thread may build any batch in any order. An item's randomness (its B
  // image, crop, flip) follows its position in the whole epoch, so R ranks with batch N see
  // exactly the items, crops and pairs one process with batch R x N sees. Unreadable files are skipped (the next
  // readable file in the domain takes their place) and counted; throws Error when a domain has none left.
  Batch batch(uint64_t seed, int epoch, int64_t index) const override;

  // One image as training sees it, without randomness (no crop offset, no flip): for samples.
  at::Tensor fixed_image(bool domain_B, int64_t i) const override;

  DataProblems problems() const override;
  std::string describe() const override;

 private:
  struct Item {
    at::Tensor image;
    std::string path;
  };
  Item load(bool domain_B, int64_t file_index, Rng& rng) const;
  std::vector<int64_t> order(uint64_t seed, int epoch) const;

  DataOptions o_;
  std::vector<std::string> files_A_, files_B_;
  mutable std::mutex mutex_;
  mutable std::set<std::string> bad_;  // files already found unreadable
  mutable std::vector<std::string> bad_order_;
  mutable std::atomic<int64_t> upscaled_{0};
  EpochOrder order_;
};

}  // namespace cg
