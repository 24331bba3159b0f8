// Mp4Writer: RGB frames -> swscale (BT.709, limited range, 4:2:0) -> H.264, and mono float
// audio -> swresample (planar float, an AAC-supported rate) -> a FIFO cut into 1024-sample
// frames -> AAC; both muxed into MP4 with interleaved writes and the index moved to the front.
#include "vision/video_writer.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include "core/error.h"

namespace mmgen::vision {
namespace {

// Audio is encoded no further than this ahead of the video written so far, so that
// audio given up front does not pile up in the muxer's interleaving queue.
constexpr double kAudioLeadSeconds = 1.0;
constexpr int kAacBitRate = 96000;  // mono

std::string av_error_text(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof(text));
  return text;
}

struct CodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
struct SwrDeleter {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
struct FifoDeleter {
  void operator()(AVAudioFifo* f) const { av_audio_fifo_free(f); }
};
struct DictionaryDeleter {
  void operator()(AVDictionary* d) const { av_dict_free(&d); }
};
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;

// FFmpeg's informational lines (libx264's statistics) would clutter the CLI's output;
// errors still reach stderr. Left alone when the program chose a level itself.
void quiet_ffmpeg_logs() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (av_log_get_level() == AV_LOG_INFO) av_log_set_level(AV_LOG_ERROR);
  });
}

bool supports_yuv420p(const AVCodec* codec) {
#if LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(61, 13, 100)
  const void* configs = nullptr;
  int count = 0;
  if (avcodec_get_supported_config(nullptr, codec, AV_CODEC_CONFIG_PIX_FORMAT, 0, &configs,
                                   &count) < 0 ||
      !configs)
    return false;
  const auto* formats = static_cast<const AVPixelFormat*>(configs);
  for (int i = 0; i < count; ++i)
    if (formats[i] == AV_PIX_FMT_YUV420P) return true;
  return false;
#else
  if (!codec->pix_fmts) return false;
  for (const AVPixelFormat* f = codec->pix_fmts; *f != AV_PIX_FMT_NONE; ++f)
    if (*f == AV_PIX_FMT_YUV420P) return true;
  return false;
#endif
}

bool supports_sample_rate(const AVCodec* codec, int rate) {
#if LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(61, 13, 100)
  const void* configs = nullptr;
  int count = 0;
  if (avcodec_get_supported_config(nullptr, codec, AV_CODEC_CONFIG_SAMPLE_RATE, 0, &configs,
                                   &count) < 0 ||
      !configs)
    return true;  // no list: any rate
  const auto* rates = static_cast<const int*>(configs);
  for (int i = 0; i < count; ++i)
    if (rates[i] == rate) return true;
  return false;
#else
  if (!codec->supported_samplerates) return true;
  for (const int* r = codec->supported_samplerates; *r != 0; ++r)
    if (*r == rate) return true;
  return false;
#endif
}

// libx264 first; any other H.264 encoder that takes yuv420p frames only when it is absent.
std::vector<const AVCodec*> h264_encoder_candidates() {
  std::vector<const AVCodec*> candidates;
  if (const AVCodec* x264 = avcodec_find_encoder_by_name("libx264")) candidates.push_back(x264);
  void* iterator = nullptr;
  while (const AVCodec* codec = av_codec_iterate(&iterator)) {
    if (!av_codec_is_encoder(codec) || codec->id != AV_CODEC_ID_H264) continue;
    if (!candidates.empty() && codec == candidates.front()) continue;
    if (supports_yuv420p(codec)) candidates.push_back(codec);
  }
  return candidates;
}

std::filesystem::path temporary_path_for(const std::filesystem::path& path) {
  static std::atomic<unsigned> counter{0};
  return path.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

}  // namespace

struct Mp4Writer::State {
  std::filesystem::path path;
  std::filesystem::path temp_path;
  VideoOptions options;

  AVFormatContext* format = nullptr;
  bool finished = false;
  bool failed = false;

  const AVCodec* video_codec = nullptr;
  CodecContextPtr video;
  AVStream* video_stream = nullptr;
  std::unique_ptr<SwsContext, SwsDeleter> to_yuv;
  FramePtr yuv_frame;
  // swscale's SIMD code reads a little past the end of its input: frames are copied into
  // this buffer, which has room to spare.
  std::vector<uint8_t> padded_rgb;
  int64_t frames = 0;

  CodecContextPtr audio;
  AVStream* audio_stream = nullptr;
  std::unique_ptr<SwrContext, SwrDeleter> resampler;
  std::unique_ptr<AVAudioFifo, FifoDeleter> fifo;
  std::vector<float> converted;  // swresample's output before it enters the FIFO
  int64_t audio_samples_encoded = 0;

  std::unique_ptr<AVPacket, PacketDeleter> packet{av_packet_alloc()};

  ~State() { discard(); }

  std::string where() const { return path.string(); }

  void check(int code, const char* what) const {
    if (code < 0) fail(where(), ": ", what, " failed: ", av_error_text(code));
  }

  // Closes the temporary file and removes it (an error, or no finish()).
  void discard() {
    if (format) {
      if (format->pb) avio_closep(&format->pb);
      avformat_free_context(format);
      format = nullptr;
    }
    if (!finished && !temp_path.empty()) {
      std::error_code ignored;
      std::filesystem::remove(temp_path, ignored);
    }
  }

  void open_video() {
    std::string attempts;
    for (const AVCodec* codec : h264_encoder_candidates()) {
      CodecContextPtr ctx(avcodec_alloc_context3(codec));
      MMGEN_CHECK(ctx != nullptr, where(), ": out of memory allocating the video encoder");
      ctx->width = options.width;
      ctx->height = options.height;
      ctx->pix_fmt = AV_PIX_FMT_YUV420P;
      ctx->time_base = AVRational{1, options.fps};
      ctx->framerate = AVRational{options.fps, 1};
      ctx->sample_aspect_ratio = AVRational{1, 1};
      ctx->color_range = AVCOL_RANGE_MPEG;
      ctx->colorspace = AVCOL_SPC_BT709;
      ctx->color_primaries = AVCOL_PRI_BT709;
      ctx->color_trc = AVCOL_TRC_BT709;
      if (format->oformat->flags & AVFMT_GLOBALHEADER) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
      AVDictionary* raw_options = nullptr;
      if (std::string(codec->name) == "libx264") {
        av_dict_set_int(&raw_options, "crf", options.crf, 0);
      } else {
        // No CRF outside libx264: a bit rate that suits talking-head material.
        ctx->bit_rate = std::max<int64_t>(
            400000, static_cast<int64_t>(options.width) * options.height * options.fps / 8);
      }
      const int code = avcodec_open2(ctx.get(), codec, &raw_options);
      std::unique_ptr<AVDictionary, DictionaryDeleter> unused(raw_options);
      if (code >= 0) {
        video_codec = codec;
        video = std::move(ctx);
        break;
      }
      attempts +=
          std::string(attempts.empty() ? "" : "; ") + codec->name + ": " + av_error_text(code);
    }
    if (!video) {
      fail(where(), ": no usable H.264 encoder in this FFmpeg build",
           attempts.empty() ? std::string(" (install libavcodec with libx264)")
                            : " (tried " + attempts + ")");
    }

    video_stream = avformat_new_stream(format, nullptr);
    MMGEN_CHECK(video_stream != nullptr, where(), ": cannot add the video stream");
    video_stream->time_base = video->time_base;
    video_stream->avg_frame_rate = video->framerate;
    check(avcodec_parameters_from_context(video_stream->codecpar, video.get()),
          "copying the video encoder parameters");

    to_yuv.reset(sws_getContext(options.width, options.height, AV_PIX_FMT_RGB24, options.width,
                                options.height, AV_PIX_FMT_YUV420P,
                                SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, nullptr,
                                nullptr, nullptr));
    MMGEN_CHECK(to_yuv != nullptr, where(), ": cannot create the RGB to YUV converter");
    // RGB is full range; the output is BT.709 limited range, as tagged on the stream.
    const int* bt709 = sws_getCoefficients(SWS_CS_ITU709);
    sws_setColorspaceDetails(to_yuv.get(), bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16);

    yuv_frame.reset(av_frame_alloc());
    MMGEN_CHECK(yuv_frame != nullptr, where(), ": out of memory allocating a video frame");
    yuv_frame->format = AV_PIX_FMT_YUV420P;
    yuv_frame->width = options.width;
    yuv_frame->height = options.height;
    check(av_frame_get_buffer(yuv_frame.get(), 0), "allocating a video frame");
  }

  void open_audio() {
    const AVCodec* codec = avcodec_find_encoder_by_name("aac");
    MMGEN_CHECK(codec != nullptr, where(), ": FFmpeg's native AAC encoder (\"aac\") is missing");
    const int in_rate = options.audio_sample_rate;
    int out_rate = in_rate;
    if (!supports_sample_rate(codec, in_rate)) out_rate = in_rate % 11025 == 0 ? 44100 : 48000;

    audio.reset(avcodec_alloc_context3(codec));
    MMGEN_CHECK(audio != nullptr, where(), ": out of memory allocating the audio encoder");
    audio->sample_fmt = AV_SAMPLE_FMT_FLTP;
    audio->sample_rate = out_rate;
    av_channel_layout_default(&audio->ch_layout, 1);
    audio->bit_rate = kAacBitRate;
    audio->time_base = AVRational{1, out_rate};
    if (format->oformat->flags & AVFMT_GLOBALHEADER) audio->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    check(avcodec_open2(audio.get(), codec, nullptr), "opening the AAC encoder");

    audio_stream = avformat_new_stream(format, nullptr);
    MMGEN_CHECK(audio_stream != nullptr, where(), ": cannot add the audio stream");
    audio_stream->time_base = audio->time_base;
    check(avcodec_parameters_from_context(audio_stream->codecpar, audio.get()),
          "copying the audio encoder parameters");

    AVChannelLayout mono;
    av_channel_layout_default(&mono, 1);
    SwrContext* swr = nullptr;
    check(swr_alloc_set_opts2(&swr, &mono, AV_SAMPLE_FMT_FLTP, out_rate, &mono, AV_SAMPLE_FMT_FLT,
                              in_rate, 0, nullptr),
          "configuring the audio resampler");
    resampler.reset(swr);
    check(swr_init(swr), "starting the audio resampler");

    fifo.reset(av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, 1, audio->frame_size));
    MMGEN_CHECK(fifo != nullptr, where(), ": out of memory allocating the audio buffer");
  }

  void open(const std::filesystem::path& target, const VideoOptions& opts) {
    path = target;
    options = opts;
    MMGEN_CHECK(opts.width > 0 && opts.height > 0 && opts.width % 2 == 0 && opts.height % 2 == 0,
                where(), ": video size ", opts.width, "x", opts.height,
                " is not allowed: width and height must be positive and even (H.264 4:2:0)");
    MMGEN_CHECK(opts.fps >= 1 && opts.fps <= 1000, where(), ": fps ", opts.fps,
                " is out of range (1 to 1000)");
    MMGEN_CHECK(opts.audio_sample_rate == 0 ||
                    (opts.audio_sample_rate >= 1000 && opts.audio_sample_rate <= 384000),
                where(), ": audio_sample_rate ", opts.audio_sample_rate,
                " is out of range (0 for no audio, or 1000 to 384000 Hz)");
    MMGEN_CHECK(opts.crf >= 0 && opts.crf <= 51, where(), ": crf ", opts.crf,
                " is out of range (0 to 51)");
    MMGEN_CHECK(!path.filename().empty(), where(), ": not a file name");
    const std::filesystem::path folder = path.parent_path().empty() ? "." : path.parent_path();
    std::error_code ec;
    MMGEN_CHECK(std::filesystem::is_directory(folder, ec), where(), ": the folder ",
                folder.string(), " does not exist");
    quiet_ffmpeg_logs();

    // The muxer reopens its file by name for +faststart, so it gets the temporary name.
    temp_path = temporary_path_for(path);
    check(avformat_alloc_output_context2(&format, nullptr, "mp4", temp_path.c_str()),
          "setting up MP4 output");
    open_video();
    if (options.audio_sample_rate > 0) open_audio();

    for (const auto& [key, value] : options.metadata)
      av_dict_set(&format->metadata, key.c_str(), value.c_str(), 0);
    check(avio_open(&format->pb, temp_path.c_str(), AVIO_FLAG_WRITE),
          ("creating " + temp_path.string()).c_str());
    AVDictionary* raw_options = nullptr;
    av_dict_set(&raw_options, "movflags", "+faststart", 0);
    const int code = avformat_write_header(format, &raw_options);
    std::unique_ptr<AVDictionary, DictionaryDeleter> unused(raw_options);
    check(code, "writing the MP4 header");
  }

  // Sends one frame (or nullptr: flush) and writes every packet the encoder returns.
  void encode(AVCodecContext* ctx, AVStream* stream, const AVFrame* frame, const char* what) {
    check(avcodec_send_frame(ctx, frame), what);
    while (true) {
      const int code = avcodec_receive_packet(ctx, packet.get());
      if (code == AVERROR(EAGAIN) || code == AVERROR_EOF) return;
      check(code, what);
      // Constant frame rate: each picture lasts one tick, the last one included.
      if (ctx == video.get() && packet->duration == 0) packet->duration = 1;
      av_packet_rescale_ts(packet.get(), ctx->time_base, stream->time_base);
      packet->stream_index = stream->index;
      check(av_interleaved_write_frame(format, packet.get()), "writing a packet");
    }
  }

  void add_frame(const Image& image) {
    MMGEN_CHECK(image.width == options.width && image.height == options.height, where(), ": frame ",
                frames, " is ", image.width, "x", image.height, ", expected ", options.width, "x",
                options.height);
    MMGEN_CHECK(image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3, where(),
                ": frame ", frames, " holds ", image.pixels.size(),
                " bytes, expected width * height * 3");
    check(av_frame_make_writable(yuv_frame.get()), "preparing a video frame");
    padded_rgb.resize(image.pixels.size() + AV_INPUT_BUFFER_PADDING_SIZE);
    std::copy(image.pixels.begin(), image.pixels.end(), padded_rgb.begin());
    const uint8_t* source[1] = {padded_rgb.data()};
    const int source_stride[1] = {image.width * 3};
    sws_scale(to_yuv.get(), source, source_stride, 0, image.height, yuv_frame->data,
              yuv_frame->linesize);
    yuv_frame->pts = frames++;
    encode(video.get(), video_stream, yuv_frame.get(), "encoding video");
    if (audio) encode_buffered_audio(false);
  }

  void add_audio(const float* samples, size_t n) {
    MMGEN_CHECK(audio != nullptr, where(),
                ": add_audio without an audio stream (VideoOptions::audio_sample_rate is 0)");
    if (n == 0) return;
    MMGEN_CHECK(samples != nullptr, where(), ": add_audio got no sample data");
    for (size_t i = 0; i < n; ++i)
      MMGEN_CHECK(std::isfinite(samples[i]), where(), ": audio sample ", i,
                  " of this chunk is not a finite number");
    // Chunks beyond INT_MAX samples go through in pieces.
    constexpr size_t kPiece = 1 << 20;
    for (size_t offset = 0; offset < n; offset += kPiece) {
      const int count = static_cast<int>(std::min(kPiece, n - offset));
      resample(samples + offset, count);
    }
    encode_buffered_audio(false);
  }

  // Converts `count` input samples (nullptr: drain the resampler) into the FIFO.
  void resample(const float* input, int count) {
    const int capacity = swr_get_out_samples(resampler.get(), count);
    check(capacity, "sizing resampled audio");
    converted.resize(static_cast<size_t>(capacity) + 1);
    uint8_t* out[1] = {reinterpret_cast<uint8_t*>(converted.data())};
    const uint8_t* in[1] = {reinterpret_cast<const uint8_t*>(input)};
    const int produced =
        swr_convert(resampler.get(), out, capacity + 1, input ? in : nullptr, input ? count : 0);
    check(produced, "resampling audio");
    if (produced == 0) return;
    void* planes[1] = {converted.data()};
    const int written = av_audio_fifo_write(fifo.get(), planes, produced);
    MMGEN_CHECK(written == produced, where(), ": out of memory buffering audio");
  }

  // Encodes whole AAC frames from the FIFO, up to kAudioLeadSeconds past the video written
  // so far; at the end (flush) everything, the last frame possibly short.
  void encode_buffered_audio(bool flush) {
    const int frame_size = audio->frame_size;
    const int rate = audio->sample_rate;
    while (true) {
      const int available = av_audio_fifo_size(fifo.get());
      if (available == 0 || (!flush && available < frame_size)) return;
      if (!flush && static_cast<double>(audio_samples_encoded) / rate >
                        static_cast<double>(frames) / options.fps + kAudioLeadSeconds)
        return;
      FramePtr frame(av_frame_alloc());
      MMGEN_CHECK(frame != nullptr, where(), ": out of memory allocating an audio frame");
      frame->nb_samples = std::min(available, frame_size);
      frame->format = AV_SAMPLE_FMT_FLTP;
      frame->sample_rate = rate;
      check(av_channel_layout_copy(&frame->ch_layout, &audio->ch_layout), "setting up audio");
      check(av_frame_get_buffer(frame.get(), 0), "allocating an audio frame");
      const int read =
          av_audio_fifo_read(fifo.get(), reinterpret_cast<void**>(frame->data), frame->nb_samples);
      MMGEN_CHECK(read == frame->nb_samples, where(), ": audio buffer underrun");
      frame->pts = audio_samples_encoded;
      audio_samples_encoded += frame->nb_samples;
      encode(audio.get(), audio_stream, frame.get(), "encoding audio");
    }
  }

  // Runs one public step: an error removes the temporary file at once and leaves the writer
  // unusable.
  template <typename Step>
  void guarded(Step&& step) {
    MMGEN_CHECK(!finished, where(), ": the video was already finished");
    MMGEN_CHECK(!failed, where(), ": the writer stopped after an earlier error");
    try {
      step();
    } catch (...) {
      failed = true;
      discard();
      throw;
    }
  }

  void finish() {
    MMGEN_CHECK(frames > 0, where(), ": no video frames were added");
    if (audio) {
      resample(nullptr, 0);
      encode_buffered_audio(true);
      encode(audio.get(), audio_stream, nullptr, "flushing the audio encoder");
    }
    encode(video.get(), video_stream, nullptr, "flushing the video encoder");
    check(av_write_trailer(format), "writing the MP4 index");
    check(avio_closep(&format->pb), "closing the file");
    avformat_free_context(format);
    format = nullptr;
    std::error_code ec;
    std::filesystem::rename(temp_path, path, ec);
    if (ec) fail(where(), ": cannot rename ", temp_path.string(), " into place: ", ec.message());
    finished = true;
  }
};

Mp4Writer::Mp4Writer(const std::filesystem::path& path, const VideoOptions& options)
    : state_(std::make_unique<State>()) {
  state_->open(path, options);  // on error ~State removes the temporary file
}

Mp4Writer::~Mp4Writer() = default;
Mp4Writer::Mp4Writer(Mp4Writer&&) noexcept = default;
Mp4Writer& Mp4Writer::operator=(Mp4Writer&&) noexcept = default;

Mp4Writer::State& Mp4Writer::state() const {
  MMGEN_CHECK(state_ != nullptr, "Mp4Writer: used after being moved from");
  return *state_;
}

void Mp4Writer::add_frame(const Image& frame) {
  state().guarded([&] { state_->add_frame(frame); });
}

void Mp4Writer::add_audio(const float* samples, size_t n) {
  state().guarded([&] { state_->add_audio(samples, n); });
}

void Mp4Writer::finish() {
  state().guarded([&] { state_->finish(); });
}

int Mp4Writer::frames_written() const { return static_cast<int>(state().frames); }

const char* Mp4Writer::video_encoder() const { return state().video_codec->name; }

}  // namespace mmgen::vision
