#include "trainer/dist/backends.h"

#include "common/error.h"

#ifdef CG_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace cg {

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                    std::chrono::milliseconds timeout) {
#ifdef CG_WITH_NCCL
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
#else
  (void)store, (void)rank, (void)size, (void)timeout;
  throw Error(ErrorKind::kSettings,
              "this cg-trainer was built without NCCL (the CUDA toolkit's nccl.h was not found), so it cannot train "
              "on several GPUs; rebuild where nccl.h is installed, or train with --device cpu");
#endif
}

}  // namespace cg
