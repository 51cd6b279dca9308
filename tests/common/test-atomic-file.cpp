// Atomic writes and their temporary files: one naming, one clean-up.
#include "common/atomic-file.h"
#include "common/error.h"
#include "tests/test-helpers.h"

#include <gmock/gmock.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace cg {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(AtomicFile, WritesAndReplacesLeavingNoTemporary) {
  test::TempDir d;
  write_file_atomically(d / "a.txt", "first");
  write_file_atomically(d / "a.txt", "second");
  EXPECT_EQ(read(d / "a.txt"), "second");
  EXPECT_FALSE(fs::exists(temporary_path(d / "a.txt")));
  EXPECT_EQ(std::distance(fs::directory_iterator(d.path), fs::directory_iterator()), 1);
}

TEST(AtomicFile, TemporaryIsHiddenBesideTheTargetWithTheSuffix) {
  const fs::path t = temporary_path("/some/dir/curve.png", ".png");
  EXPECT_EQ(t.parent_path(), "/some/dir");
  EXPECT_EQ(t.filename().string().rfind(".curve.png.tmp", 0), 0u) << t;
  EXPECT_EQ(t.extension(), ".png");
  EXPECT_EQ(fs::path(temporary_path("bare.txt")).parent_path(), ".");
}

TEST(AtomicFile, UnwritableFolderIsAnIoErrorNamingTheFile) {
  test::TempDir d;
  try {
    write_file_atomically(d / "missing/a.txt", "x");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_THAT(e.what(), HasSubstr("missing/a.txt: cannot write"));
  }
}

TEST(AtomicFile, LeftoverTemporariesAreRemovedAndNothingElse) {
  test::TempDir d;
  for (const std::string& name : {temporary_path(d / "latest_checkpoint.pt"), temporary_path(d / "loss.png", ".png"),
                                  d / ".loss_curve.png.tmp.png", d / "G_A.pt", d / ".keep", d / "notes.tmp"})
    std::ofstream(name) << "x";
  remove_leftover_temporaries(d.path.string());
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(d.path)) left.insert(e.path().filename().string());
  EXPECT_EQ(left, (std::set<std::string>{"G_A.pt", ".keep", "notes.tmp"}));
}

}  // namespace
}  // namespace cg
