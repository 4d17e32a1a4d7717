#pragma once
// The evaluation dataset of `trimvl eval`: a JSONL file, one sample per line, validated before any
// model work. Blank lines are skipped; line numbers count every line from 1.
//
//   {"id": 1, "task": "count", "question": "How many cats?", "images": ["img/cats.png"], "answer": 3}
//   {"id": "q2", "task": "colour", "question": "Which colour is the car?", "images": ["car.jpg"],
//    "choices": ["red", "blue", "green"], "answer": "B"}
//   {"id": "q3", "task": "video", "messages": [
//      {"role": "system", "content": "Be brief."},
//      {"role": "user", "content": [{"type": "video", "video": "clip.mp4", "fps": 2},
//                                   {"type": "text", "text": "What appears first?"}]}],
//    "answer": ["a ball", "ball"]}
//
// Keys of a sample:
//   id        string or integer, unique in the file (7 and "7" are the same id)
//   task      non-empty string; results are aggregated per task
//   question  string, with optional "images" / "videos": a path or a list of paths. It becomes one
//             user message with the images, then the videos, then the question text: media before
//             the text, as lmms-eval's Qwen-VL models build their messages (models/simple/qwen3_vl.py).
//   messages  instead of question: a list of {"role": system|user|assistant, "content": ...}, the
//             last one the user's. content is a string or a list of parts in the HF / OpenAI chat
//             shapes (the "type" may be left out when the part's key says it):
//               {"type": "text", "text": "..."}
//               {"type": "image", "image" | "path" | "url": "..."}          (HF, qwen-vl-utils)
//               {"type": "image_url", "image_url": "..." | {"url": "..."}}  (OpenAI)
//               {"type": "video", "video" | "path" | "url": "...", "fps": 2, "max_frames": 32}
//               {"type": "video_url", "video_url": "..." | {"url": "..."}}  (vLLM)
//             A media reference is a local path or a file:// URL; http(s) and data: URLs are refused
//             (no network; save the file and give its path).
//   choices   optional: 2 to 26 option texts (strings or numbers), distinct, lettered A, B, ...
//   answer    required: a string or number, or a non-empty list of them (any one is correct); numbers
//             become their JSON text. With choices each answer is a letter (either case) or the
//             exact text of a choice (else compared ignoring case), stored as its letter.
// Relative media paths are resolved against the JSONL file's directory and must name existing
// files. Other keys (lmms-eval exports carry many) are ignored, each named once in a warning.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "app/engine.h"

namespace trimvl::app::eval {

struct Sample {
  std::string id;                     // integers in decimal
  std::string task;
  std::vector<Message> messages;      // media paths resolved; MCQ options not yet added (prompt.h)
  std::vector<std::string> choices;   // empty: free-form
  std::vector<std::string> answers;   // MCQ: distinct letters "A".."Z"; else the answer texts
  int64_t line = 0;                   // 1-based line in the file
  bool is_mcq() const { return !choices.empty(); }
};

struct DatasetIssue {
  int64_t line = 0;
  std::string message;  // the first problem of the line
};

struct Dataset {
  std::filesystem::path file;
  std::vector<Sample> samples;       // in file order
  std::vector<DatasetIssue> issues;  // the skipped lines, in file order
};

// Reads and validates `jsonl`. An invalid sample is skipped and recorded as an issue; with `strict`
// the first one throws Error(InvalidInput) rendered "file: line N: message". Throws NotFound when
// the file does not exist and InvalidInput when it cannot be read or holds no sample line at all.
Dataset load_dataset(const std::filesystem::path& jsonl, bool strict);

// For the CLI: "" without issues, else "<file>: K of N samples skipped:" and one "  line L: message"
// line per issue, the first `max_lines` of them, then "  ... and M more".
std::string describe_issues(const Dataset& dataset, std::size_t max_lines = 20);

}  // namespace trimvl::app::eval
