// The one place that knows every model family linked into the program: it
// registers their golden kinds (core/golden.h). Called explicitly by the CLI
// and the golden tests, so nothing depends on static initialisers.
#include <mutex>

#include "audio/audio_golden.h"
#include "audio/phonemize_golden.h"
#include "audio/vits_golden.h"
#include "core/golden.h"
#include "diffusion/txt2img_golden.h"
#include "diffusion/unet_golden.h"
#include "diffusion/vae_golden.h"
#include "text/clip_golden.h"
#include "text/llm_golden.h"
#include "text/tokenizer_golden.h"

namespace mmgen {

void register_all_golden_kinds() {
  static std::once_flag once;
  std::call_once(once, [] {
    audio::register_audio_golden_kinds();
    audio::register_phonemize_golden_kinds();
    audio::register_vits_golden_kinds();
    diffusion::register_txt2img_golden_kinds();
    diffusion::register_unet_golden_kinds();
    diffusion::register_vae_golden_kinds();
    text::register_clip_golden_kinds();
    text::register_llm_golden_kinds();
    text::register_tokenizer_golden_kinds();
  });
}

}  // namespace mmgen
