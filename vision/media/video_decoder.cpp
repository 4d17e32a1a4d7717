#include "vision/media/video_decoder.h"

#include <cmath>
#include <memory>
#include <numeric>
#include <string>

#include <ATen/ATen.h>
#include <fmt/format.h>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include "kernels/runtime/error.h"

namespace trimvl::vision::media {
namespace {

std::string av_message(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof text);
  return text;
}

struct FormatCloser {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct CodecFreer {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct PacketFreer {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameFreer {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct SwsFreer {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

// An opened container and its first video stream.
struct Input {
  std::unique_ptr<AVFormatContext, FormatCloser> format;
  AVStream* stream = nullptr;

  explicit Input(const std::filesystem::path& path) {
    const std::string name = path.string();
    AVFormatContext* raw = nullptr;
    if (int rc = avformat_open_input(&raw, name.c_str(), nullptr, nullptr); rc < 0)
      throw Error(fmt::format("cannot open as a video: {}", av_message(rc)),
                  rc == AVERROR(ENOENT) ? Error::Kind::NotFound : Error::Kind::InvalidInput)
          .file(name);
    format.reset(raw);
    if (int rc = avformat_find_stream_info(raw, nullptr); rc < 0)
      throw Error(fmt::format("cannot read the video's streams (truncated or corrupt?): {}", av_message(rc))).file(name);
    const int index = av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (index < 0) throw Error("no video stream in the file").file(name);
    stream = raw->streams[index];
  }
};

double average_fps(const AVStream* stream, const std::string& name) {
  for (AVRational rate : {stream->avg_frame_rate, stream->r_frame_rate})
    if (rate.num > 0 && rate.den > 0) return av_q2d(rate);
  throw Error("the video stream declares no frame rate").file(name);
}

int64_t count_frames(const std::filesystem::path& path) {
  Input input(path);
  if (input.stream->nb_frames > 0) return input.stream->nb_frames;
  std::unique_ptr<AVPacket, PacketFreer> packet(av_packet_alloc());
  int64_t count = 0;
  int rc = 0;
  while ((rc = av_read_frame(input.format.get(), packet.get())) >= 0) {
    count += packet->stream_index == input.stream->index;
    av_packet_unref(packet.get());
  }
  if (rc != AVERROR_EOF) throw Error(fmt::format("reading the video failed: {}", av_message(rc))).file(path.string());
  return count;
}

// Clockwise quarter turns that make the picture upright, as the ffmpeg CLI's autorotation.
int upright_quarter_turns(const AVStream* stream, const std::string& name) {
  const auto* matrix =
      reinterpret_cast<const int32_t*>(av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, nullptr));
  if (matrix == nullptr) return 0;
  const double angle = -av_display_rotation_get(matrix);  // counterclockwise in the matrix; we turn clockwise
  if (std::isnan(angle)) throw Error("the video's display matrix is degenerate").file(name);
  const int turns = static_cast<int>(std::lround(angle / 90.0)) % 4;
  if (std::fabs(angle - 90.0 * std::lround(angle / 90.0)) > 1.0)
    throw Error(fmt::format("video rotated by {} degrees; only quarter turns are supported", angle),
                Error::Kind::Unsupported)
        .file(name);
  // A mirrored matrix has a negative determinant.
  if (static_cast<double>(matrix[0]) * matrix[4] - static_cast<double>(matrix[1]) * matrix[3] < 0)
    throw Error("video display matrix mirrors the picture; not supported", Error::Kind::Unsupported).file(name);
  return (turns + 4) % 4;
}

class RgbConverter {
 public:
  explicit RgbConverter(std::string name) : name_(std::move(name)) {}

  at::Tensor operator()(const AVFrame& frame) {
    const auto format = static_cast<AVPixelFormat>(frame.format);
    if (int64_t{frame.width} * frame.height > kMaxFramePixels || frame.width <= 0 || frame.height <= 0)
      throw Error(fmt::format("video frame of {} x {} pixels; at most {} per frame", frame.width, frame.height,
                              kMaxFramePixels))
          .file(name_);
    sws_.reset(sws_getCachedContext(sws_.release(), frame.width, frame.height, format, frame.width, frame.height,
                                    AV_PIX_FMT_RGB24, SWS_BICUBIC, nullptr, nullptr, nullptr));
    if (!sws_) throw Error(fmt::format("cannot convert pixel format {} to RGB", av_get_pix_fmt_name(format)),
                           Error::Kind::Unsupported).file(name_);
    const int matrix = frame.colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : frame.colorspace;
    const int* coefficients = sws_getCoefficients(matrix);
    const int* rgb_coefficients = sws_getCoefficients(SWS_CS_DEFAULT);
    // Only YUV input has a matrix and range to set; for RGB input swscale rejects the call, harmlessly.
    sws_setColorspaceDetails(sws_.get(), coefficients, frame.color_range == AVCOL_RANGE_JPEG, rgb_coefficients, 1, 0,
                             1 << 16, 1 << 16);
    // swscale's SIMD paths write whole blocks: rows get a padded, aligned stride (as the ffmpeg
    // CLI's frame buffers have) and a spare row, else the last columns of odd widths come out unwritten.
    const int stride = FFALIGN(3 * frame.width, 64);
    at::Tensor padded = at::empty({frame.height + 1, stride}, at::kByte);
    uint8_t* planes[4] = {padded.data_ptr<uint8_t>(), nullptr, nullptr, nullptr};
    const int strides[4] = {stride, 0, 0, 0};
    sws_scale(sws_.get(), frame.data, frame.linesize, 0, frame.height, planes, strides);
    return padded.narrow(0, 0, frame.height).narrow(1, 0, 3 * frame.width).reshape({frame.height, frame.width, 3});
  }

 private:
  std::string name_;
  std::unique_ptr<SwsContext, SwsFreer> sws_;
};

}  // namespace

DecodedVideo decode_video(const std::filesystem::path& path, const FrameChooser& choose) {
  const std::string name = path.string();
  DecodedVideo out;
  out.info.frame_count = count_frames(path);
  Input input(path);
  out.info.fps = average_fps(input.stream, name);
  if (out.info.frame_count == 0) throw Error("the video stream has no frames").file(name);
  out.frame_indices = choose(out.info);
  const auto& wanted = out.frame_indices;
  if (wanted.empty()) throw Error("no frames chosen to decode").file(name);
  for (size_t i = 0; i < wanted.size(); ++i)
    if (wanted[i] < 0 || wanted[i] >= out.info.frame_count || (i > 0 && wanted[i] <= wanted[i - 1]))
      throw Error(fmt::format("frame index {} (position {}) is out of order or outside [0, {})", wanted[i], i,
                              out.info.frame_count))
          .file(name);
  const int turns = upright_quarter_turns(input.stream, name);
  if (const AVCodecParameters* c = input.stream->codecpar; int64_t{c->width} * c->height > kMaxFramePixels)
    throw Error(fmt::format("video frames of {} x {} pixels; at most {} per frame", c->width, c->height,
                            kMaxFramePixels))
        .file(name);

  const AVCodec* codec = avcodec_find_decoder(input.stream->codecpar->codec_id);
  if (codec == nullptr)
    throw Error(fmt::format("no decoder for the video codec {}", avcodec_get_name(input.stream->codecpar->codec_id)),
                Error::Kind::Unsupported)
        .file(name);
  std::unique_ptr<AVCodecContext, CodecFreer> decoder(avcodec_alloc_context3(codec));
  if (!decoder) throw Error("out of memory allocating a decoder", Error::Kind::Internal).file(name);
  if (int rc = avcodec_parameters_to_context(decoder.get(), input.stream->codecpar); rc < 0)
    throw Error(fmt::format("bad codec parameters: {}", av_message(rc))).file(name);
  decoder->thread_count = 0;  // as many as FFmpeg sees fit; threading does not change the pixels
  if (int rc = avcodec_open2(decoder.get(), codec, nullptr); rc < 0)
    throw Error(fmt::format("cannot open the {} decoder: {}", codec->name, av_message(rc))).file(name);

  const AVRational time_base = input.stream->time_base;
  const int64_t start = input.stream->start_time == AV_NOPTS_VALUE ? 0 : input.stream->start_time;
  std::unique_ptr<AVPacket, PacketFreer> packet(av_packet_alloc());
  std::unique_ptr<AVFrame, FrameFreer> frame(av_frame_alloc());
  RgbConverter to_rgb(name);
  std::vector<at::Tensor> rgb;
  int64_t decoded = 0;
  size_t next = 0;
  double last_time = -1;

  // Drains every frame the decoder has ready; false once the chosen frames are all in.
  auto receive = [&]() {
    int rc;
    while ((rc = avcodec_receive_frame(decoder.get(), frame.get())) >= 0) {
      if (decoded == wanted[next]) {
        const int64_t pts = frame->best_effort_timestamp;
        const double t = pts == AV_NOPTS_VALUE ? decoded / out.info.fps : (pts - start) * av_q2d(time_base);
        if (!(std::isfinite(t) && t >= 0 && t > last_time))  // Frames' invariant: >= 0, strictly increasing
          throw Error(fmt::format("frame {} has timestamp {} s (previous chosen frame: {} s); timestamps must be "
                                  ">= 0 and increasing",
                                  decoded, t, last_time))
              .file(name);
        last_time = t;
        at::Tensor picture = to_rgb(*frame);
        if (turns != 0) picture = at::rot90(picture, -turns, {0, 1}).contiguous();
        if (!rgb.empty() && picture.sizes() != rgb.front().sizes())
          throw Error(fmt::format("frame {} changes size mid-stream; not supported", decoded), Error::Kind::Unsupported)
              .file(name);
        rgb.push_back(std::move(picture));
        out.frames.timestamps_s.push_back(t);
        ++next;
      }
      ++decoded;
      av_frame_unref(frame.get());
      if (next == wanted.size()) return false;
    }
    if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF)
      throw Error(fmt::format("decoding frame {} failed: {}", decoded, av_message(rc))).file(name);
    return true;
  };

  bool more = true;
  int rc = 0;
  while (more && (rc = av_read_frame(input.format.get(), packet.get())) >= 0) {
    if (packet->stream_index == input.stream->index) {
      const int sent = avcodec_send_packet(decoder.get(), packet.get());
      av_packet_unref(packet.get());
      if (sent < 0) throw Error(fmt::format("corrupt video data at frame {}: {}", decoded, av_message(sent))).file(name);
      more = receive();
    } else {
      av_packet_unref(packet.get());
    }
  }
  if (more && rc != AVERROR_EOF)
    throw Error(fmt::format("reading the video failed after {} frames: {}", decoded, av_message(rc))).file(name);
  if (more) {
    avcodec_send_packet(decoder.get(), nullptr);  // flush the frames the decoder holds back
    more = receive();
  }
  if (more)
    throw Error(fmt::format("the video ends after {} decoded frames; frame {} was asked for (of {} declared)", decoded,
                            wanted[next], out.info.frame_count))
        .file(name);

  out.frames.rgb = at::stack(rgb);
  out.frames.fps = out.info.fps;
  out.frames.source = name;
  return out;
}

Frames decode_video(const std::filesystem::path& path) {
  return decode_video(path, [](const VideoInfo& info) {
           std::vector<int64_t> all(info.frame_count);
           std::iota(all.begin(), all.end(), int64_t{0});
           return all;
         })
      .frames;
}

}  // namespace trimvl::vision::media
