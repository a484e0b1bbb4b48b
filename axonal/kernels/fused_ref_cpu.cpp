// The t_ref > 0 (REF) specialisations of the fused CPU kernels: the same templates as the
// t_ref = 0 ones (../csrc/fused_kernels.h), instantiated in their own translation unit, which
// the build compiles in parallel with fused_cpu.cpp.
#include "../csrc/fused_kernels.h"

namespace axonal_fused {

#define AXONAL_FUSED_REF_DEFINE(F) AXONAL_FUSED_REF_RUNS(, F)
AXONAL_FUSED_FAMILIES(AXONAL_FUSED_REF_DEFINE)
#undef AXONAL_FUSED_REF_DEFINE

}  // namespace axonal_fused
