// The official "aligned" dataset of pix2pix: DATAROOT/{phase} holds images with the A image on
// the left half and its B counterpart on the right half (AB side by side). An epoch visits every
// file once in shuffled order; both halves get one crop offset and one flip, so they stay
// registered pixel for pixel.
#pragma once

#include "trainer/data/dataset.h"

#include <opencv2/core.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace cg {

// The halves of one AB image: A = the left floor(W / 2) columns, B = the next floor(W / 2) (an odd
// width's last column is dropped, so both halves have one size and take the same crop). Throws
// Error naming `path` for an image less than 2 pixels wide.
std::pair<cv::Mat, cv::Mat> split_aligned(const cv::Mat& ab, const std::string& path);

class AlignedDataset : public TrainingData {
 public:
  // Lists DATAROOT/{phase}; throws Error for a missing dataroot or folder, or one without images.
  // `o.swap_domains` (--direction BtoA) makes the right half A and the left half B.
  explicit AlignedDataset(const DataOptions& o);

  int64_t size() const { return static_cast<int64_t>(files_.size()); }  // items per epoch
  int64_t batches_per_epoch() const override;
  const std::vector<std::string>& files() const { return files_; }

  // As UnalignedDataset::batch: an item's order and augmentation follow its position in the whole
  // epoch, so R ranks with batch N see the items one process with batch R x N sees. Unreadable
  // files are skipped (the next readable file takes their place) and counted; an image too narrow
  // to split, or no readable file left, is an Error.
  Batch batch(uint64_t seed, int epoch, int64_t index) const override;
  // The A (left, or right with BtoA) or B half of file i, without crop offset or flip.
  at::Tensor fixed_image(bool domain_B, int64_t i) const override;
  DataProblems problems() const override;
  std::string describe() const override;

 private:
  struct Item {
    at::Tensor A, B;
    std::string path;
  };
  Item load(int64_t file_index, Rng& rng) const;
  std::vector<int64_t> order(uint64_t seed, int epoch) const;
  std::string folder() const;

  DataOptions o_;
  std::vector<std::string> files_;
  mutable std::mutex mutex_;
  mutable std::set<std::string> bad_;  // files already found unreadable
  mutable std::vector<std::string> bad_order_;
  mutable std::atomic<int64_t> upscaled_{0};
  EpochOrder order_;
};

}  // namespace cg
