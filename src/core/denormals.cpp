#include "core/denormals.h"

#include <ATen/Context.h>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace bnlab {

const EnumNames<Denormals>& enum_names(Denormals) {
  static const EnumNames<Denormals> names = {{Denormals::kFlush, "flush"}, {Denormals::kKeep, "keep"}};
  return names;
}

bool set_denormals(Denormals mode) { return at::globalContext().setFlushDenormal(mode == Denormals::kFlush); }

Denormals current_denormals() {
#if defined(__SSE__)
  constexpr unsigned kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;  // MXCSR bits
  return (_mm_getcsr() & (kFlushToZero | kDenormalsAreZero)) ? Denormals::kFlush : Denormals::kKeep;
#else
  return Denormals::kKeep;
#endif
}

}  // namespace bnlab
