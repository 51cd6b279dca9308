#include "engine/cv-frame.h"
#include "model/model-file.h"
#include "trainer/data/image-io.h"
#include "trainer/data/synth.h"
#include "trainer/report/metrics.h"

#include "tests/test-helpers.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <opencv2/imgproc.hpp>

#include <cmath>

namespace cg {
namespace {

TEST(Metrics, PsnrOfAKnownError) {
  cv::Mat a(8, 8, CV_8UC3, cv::Scalar(100, 100, 100)), b(8, 8, CV_8UC3, cv::Scalar(110, 110, 110));
  EXPECT_NEAR(psnr(a, b), 10 * std::log10(255.0 * 255.0 / 100.0), 1e-9);
  EXPECT_EQ(psnr(a, a), 100.0);
}

TEST(Metrics, SsimIsOneForEqualImagesAndLowerForNoise) {
  cv::Mat a(32, 32, CV_8UC3), noise(32, 32, CV_8UC3);
  cv::randu(a, 0, 256);
  cv::randu(noise, 0, 256);
  EXPECT_NEAR(ssim(a, a), 1.0, 1e-9);
  EXPECT_LT(ssim(a, noise), 0.1);
  cv::Mat blurred;
  cv::GaussianBlur(a, blurred, cv::Size(3, 3), 1.0);
  const double s = ssim(a, blurred);
  EXPECT_GT(s, ssim(a, noise));
  EXPECT_LT(s, 1.0);
}

TEST(Metrics, PixelAccuracy) {
  cv::Mat t(2, 2, CV_8U, cv::Scalar(1)), p = t.clone();
  p.at<uint8_t>(0, 0) = 3;
  EXPECT_DOUBLE_EQ(pixel_accuracy(p, t), 0.75);
}

TEST(Synth, LabelColoursRoundTripAndLayoutsAreReproducible) {
  const cv::Mat a = facade_layout(42, 64), b = facade_layout(42, 64), c = facade_layout(43, 64);
  EXPECT_EQ(cv::countNonZero(a != b), 0);
  EXPECT_GT(cv::countNonZero(a != c), 0);
  EXPECT_EQ(cv::countNonZero(nearest_classes(colour_labels(a)) != a), 0);
  // A facade has wall, windows and a door.
  for (int cls : {kWall, kWindow, kDoor}) EXPECT_GT(cv::countNonZero(a == cls), 0) << facade_class_name(cls);
  // The renderer is a function of the labels (and the noise seed).
  const cv::Mat r1 = render_facade(a, 5), r2 = render_facade(a, 5);
  EXPECT_EQ(cv::norm(r1, r2, cv::NORM_INF), 0);
  EXPECT_EQ(r1.type(), CV_8UC3);
  // A rendering is far from its label map: the task is not the identity.
  EXPECT_LT(psnr(r1, colour_labels(a)), 12.0);
}

TEST(Inference, AnySizeComesBackAtItsSize) {
  test::TempDir d;
  torch::manual_seed(0);
  GeneratorOptions go;
  go.ngf = 4;
  go.n_blocks = 1;
  Generator g(go);
  init_weights(*g);
  save_generator(g, ModelMetadata::for_generator(go), d / "G.pt");
  EngineOptions options;
  options.model_path = d / "G.pt";
  options.device = "cpu";
  Engine engine(options);
  cv::Mat img(22, 30, CV_8UC3);
  cv::randu(img, 0, 256);
  const cv::Mat out = translate_image(engine, img);
  EXPECT_EQ(out.cols, 30);
  EXPECT_EQ(out.rows, 22);
  // Inside, the output is the generator's output on the edge-replicated 32x24 image.
  cv::Mat padded;
  cv::copyMakeBorder(img, padded, 0, 2, 0, 2, cv::BORDER_REPLICATE);
  torch::NoGradGuard no_grad;
  const cv::Mat full = tensor_to_image(g->forward(image_to_tensor(padded).unsqueeze(0)));
  EXPECT_LE(cv::norm(full(cv::Rect(0, 0, 30, 22)), out, cv::NORM_INF), 1.0);
}

}  // namespace
}  // namespace cg
