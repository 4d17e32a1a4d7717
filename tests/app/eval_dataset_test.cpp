// Loading `trimvl eval` datasets (app/eval/dataset.h) from JSONL files written into a temporary
// directory: both sample forms, path resolution, every refusal with its line, strict mode.
#include "app/eval/dataset.h"

#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kernels/runtime/error.h"
#include "tests/support/test_env.h"

namespace trimvl::app::eval {
namespace {

namespace fs = std::filesystem;

// A dataset directory with two images and a video (contents do not matter: loading only checks
// that media files exist; decoding is the engine's).
class DatasetFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_file(tmp_ / "img" / "cat.png", "png");
    test::write_file(tmp_ / "dog.jpg", "jpg");
    test::write_file(tmp_ / "clips" / "ball.mp4", "mp4");
  }
  fs::path write(const std::string& text, const std::string& name = "data.jsonl") {
    test::write_file(tmp_ / name, text);
    return tmp_ / name;
  }
  fs::path dir() const { return tmp_.path(); }
  test::TempDir tmp_;
};

TEST_F(DatasetFiles, QuestionAndMessageFormsWithRelativePaths) {
  const std::string abs_dog = (dir() / "dog.jpg").string();
  const fs::path file = write(
      R"({"id": 1, "task": "animals", "question": "Which animal?", "images": ["img/cat.png", "./dog.jpg"], "choices": ["cat", "dog"], "answer": "dog"})"
      "\n\n   \n"
      R"({"id": "q3", "task": "video", "messages": [)"
      R"({"role": "system", "content": "Be brief."},)"
      R"({"role": "user", "content": [{"type": "image", "path": "img/cat.png"}, {"type": "text", "text": "What is it?"}]},)"
      R"({"role": "assistant", "content": "A cat."},)"
      R"({"role": "user", "content": [{"type": "video", "video": "clips/ball.mp4", "fps": 2, "max_frames": 8}, {"text": "And now?"}]}],)"
      R"( "answer": [3, "three", 2.5]})"
      "\n" R"({"id": 7, "task": "animals", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file://)" +
      abs_dog + R"("}}, {"type": "text", "text": "Colour?"}]}], "answer": "brown", "source": "x"})" "\n"
      R"({"id": 8, "task": "count", "question": "How many balls?", "videos": "clips/ball.mp4", "answer": 1})" "\n");
  const Dataset d = load_dataset(file, /*strict=*/true);
  EXPECT_EQ(d.file, file);
  EXPECT_TRUE(d.issues.empty());
  ASSERT_EQ(d.samples.size(), 4u);

  const Sample& a = d.samples[0];
  EXPECT_EQ(a.id, "1");
  EXPECT_EQ(a.task, "animals");
  EXPECT_EQ(a.line, 1);
  EXPECT_TRUE(a.is_mcq());
  EXPECT_EQ(a.choices, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(a.answers, (std::vector<std::string>{"B"}));  // the choice text becomes its letter
  ASSERT_EQ(a.messages.size(), 1u);
  EXPECT_EQ(a.messages[0].role, Role::User);
  ASSERT_EQ(a.messages[0].parts.size(), 3u);  // the images, then the question
  EXPECT_EQ(a.messages[0].parts[0].kind, Part::Kind::Image);
  EXPECT_EQ(a.messages[0].parts[0].path, dir() / "img" / "cat.png");
  EXPECT_EQ(a.messages[0].parts[1].path, dir() / "dog.jpg");
  EXPECT_EQ(a.messages[0].parts[2].kind, Part::Kind::Text);
  EXPECT_EQ(a.messages[0].parts[2].text, "Which animal?");

  const Sample& b = d.samples[1];
  EXPECT_EQ(b.id, "q3");
  EXPECT_EQ(b.line, 4);  // blank lines count
  EXPECT_FALSE(b.is_mcq());
  EXPECT_EQ(b.answers, (std::vector<std::string>{"3", "three", "2.5"}));
  ASSERT_EQ(b.messages.size(), 4u);
  EXPECT_EQ(b.messages[0].role, Role::System);
  EXPECT_EQ(b.messages[0].parts[0].text, "Be brief.");
  EXPECT_EQ(b.messages[1].parts[0].path, dir() / "img" / "cat.png");
  EXPECT_EQ(b.messages[2].role, Role::Assistant);
  const Part& video = b.messages[3].parts[0];
  EXPECT_EQ(video.kind, Part::Kind::Video);
  EXPECT_EQ(video.path, dir() / "clips" / "ball.mp4");
  EXPECT_EQ(video.fps, 2.0);
  EXPECT_EQ(video.max_frames, 8);
  EXPECT_EQ(b.messages[3].parts[1].text, "And now?");  // "type" inferred from the key

  const Sample& c = d.samples[2];
  EXPECT_EQ(c.line, 5);
  EXPECT_EQ(c.messages[0].parts[0].path, dir() / "dog.jpg");  // OpenAI image_url with a file:// URL
  EXPECT_EQ(c.answers, (std::vector<std::string>{"brown"}));

  const Sample& v = d.samples[3];
  ASSERT_EQ(v.messages[0].parts.size(), 2u);
  EXPECT_EQ(v.messages[0].parts[0].kind, Part::Kind::Video);  // a single path instead of a list
  EXPECT_EQ(v.answers, (std::vector<std::string>{"1"}));
}

TEST_F(DatasetFiles, McqAnswerSpellings) {
  const fs::path file = write(
      R"({"id": 1, "task": "t", "question": "q", "choices": ["cat", "dog", "bird"], "answer": "b"})" "\n"
      R"({"id": 2, "task": "t", "question": "q", "choices": ["cat", "dog", "bird"], "answer": "DOG"})" "\n"
      R"({"id": 3, "task": "t", "question": "q", "choices": [1, 2, 3], "answer": 2})" "\n"
      R"({"id": 4, "task": "t", "question": "q", "choices": ["cat", "dog", "bird"], "answer": ["A", "cat", "C"]})" "\n"
      R"({"id": 5, "task": "t", "question": "q", "choices": null, "answer": "b"})" "\n");
  const Dataset d = load_dataset(file, true);
  ASSERT_EQ(d.samples.size(), 5u);
  EXPECT_EQ(d.samples[0].answers, (std::vector<std::string>{"B"}));
  EXPECT_EQ(d.samples[1].answers, (std::vector<std::string>{"B"}));
  EXPECT_EQ(d.samples[2].choices, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(d.samples[2].answers, (std::vector<std::string>{"B"}));
  EXPECT_EQ(d.samples[3].answers, (std::vector<std::string>{"A", "C"}));  // duplicates merged
  EXPECT_FALSE(d.samples[4].is_mcq());  // null is absent
  EXPECT_EQ(d.samples[4].answers, (std::vector<std::string>{"b"}));
}

// One bad sample per line after a good first line; each must be reported with its line number and
// the problem, and skipped.
TEST_F(DatasetFiles, EveryRefusalWithItsLine) {
  const std::string q = R"("task": "t", "question": "q", "answer": "x")";
  const std::string user_text = R"({"role": "user", "content": "hi"})";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"not json", "invalid JSON at column 2: syntax error"},
      {"[1, 2]", "expected a JSON object, got [1,2]"},
      {"{" + q + "}", "missing key 'id'"},
      {R"({"id": 1.5, )" + q + "}", "key 'id': expected a non-empty string or an integer, got 1.5"},
      {R"({"id": true, )" + q + "}", "key 'id': expected a non-empty string or an integer, got true"},
      {R"({"id": 20, "task": "", "question": "q", "answer": "x"})", "key 'task': expected a non-empty string"},
      {R"({"id": 21, "question": "q", "answer": "x"})", "missing key 'task'"},
      {R"({"id": 22, "task": "t", "question": "q", "messages": [)" + user_text + R"(], "answer": "x"})",
       "give either 'messages' or 'question', not both"},
      {R"({"id": 23, "task": "t", "answer": "x"})", "missing key 'question' (or 'messages')"},
      {R"({"id": 24, "task": "t", "question": " ", "answer": "x"})", "key 'question': expected a non-empty string"},
      {R"({"id": 25, )" + q + R"(, "images": ["img/cat.png", "missing.png"]})",
       "images[1]: image not found: " + (dir() / "missing.png").string()},
      {R"({"id": 26, )" + q + R"(, "images": ["img"]})", "images[0]: image path is a directory: " + (dir() / "img").string()},
      {R"({"id": 27, )" + q + R"(, "images": [3]})", "images[0]: expected a path, got 3"},
      {R"({"id": 28, )" + q + R"(, "videos": {"a": 1}})", "key 'videos': expected a path or a list of paths"},
      {R"({"id": 29, "task": "t", "answer": "x", "messages": [{"role": "bot", "content": "hi"}]})",
       "messages[0].role: expected system, user or assistant, got \"bot\""},
      {R"({"id": 30, "task": "t", "answer": "x", "messages": [)" + user_text + R"(, {"role": "assistant", "content": "yo"}]})",
       "messages[1]: the last message must be the user's"},
      {R"({"id": 31, "task": "t", "answer": "x", "messages": [{"role": "user", "content": []}]})",
       "messages[0].content: expected a string or a non-empty list of parts, got []"},
      {R"({"id": 32, "task": "t", "answer": "x", "messages": []})", "key 'messages': expected a non-empty list of messages"},
      {R"({"id": 33, "task": "t", "answer": "x", "messages": [{"role": "user", "content": [{"type": "audio", "audio": "a.wav"}]}]})",
       "messages[0].content[0]: unknown part type 'audio'"},
      {R"({"id": 34, "task": "t", "answer": "x", "messages": [{"role": "user", "content": [{"type": "image", "image": "dog.jpg", "path": "dog.jpg"}]}]})",
       "messages[0].content[0]: give one of 'image', 'path', 'url', not both 'image' and 'path'"},
      {R"({"id": 35, "task": "t", "answer": "x", "messages": [{"role": "user", "content": [{"type": "image", "url": "https://x.org/a.png"}]}]})",
       "messages[0].content[0]: 'https://x.org/a.png' is a remote URL; trimvl does not download"},
      {R"({"id": 36, "task": "t", "answer": "x", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]})",
       "messages[0].content[0]: inline data: URLs are not supported"},
      {R"({"id": 37, "task": "t", "answer": "x", "messages": [{"role": "user", "content": [{"type": "video", "video": ["a.png", "b.png"]}]}]})",
       "messages[0].content[0].video: a video given as a list of frames is not supported"},
      {R"({"id": 38, "task": "t", "answer": "x", "messages": [{"role": "user", "content": [{"type": "video", "video": "clips/ball.mp4", "fps": 0}]}]})",
       "messages[0].content[0].fps: expected a positive number, got 0"},
      {R"({"id": 39, "task": "t", "answer": "x", "messages": [{"role": "user", "content": [{"type": "video", "video": "clips/ball.mp4", "max_frames": 2.5}]}]})",
       "messages[0].content[0].max_frames: expected a positive integer, got 2.5"},
      {R"({"id": 40, "task": "t", "answer": "x", "messages": [{"role": "user", "content": [{"image": "dog.jpg", "video": "clips/ball.mp4"}]}]})",
       "messages[0].content[0]: no 'type', and both 'image' and 'video' given"},
      {R"({"id": 41, "task": "t", "answer": "x", "messages": [{"role": "user", "content": [{"type": "text"}]}]})",
       "messages[0].content[0].text: expected a string, got nothing"},
      {R"({"id": 42, "task": "t", "question": "q", "images": ["dog.jpg"], "answer": "x", "messages": null})", ""},  // valid
      {R"({"id": 43, "task": "t", "answer": "x", "images": ["dog.jpg"], "messages": [)" + user_text + "]}",
       "'images' goes with 'question'; with 'messages', put media in the message content"},
      {R"({"id": 44, "task": "t", "question": "q", "choices": ["cat"], "answer": "A"})",
       "key 'choices': expected a list of 2 to 26 options, got [\"cat\"]"},
      {R"({"id": 45, "task": "t", "question": "q", "choices": ["cat", "dog", " cat"], "answer": "A"})",
       "choices[0] and choices[2] are both 'cat' (options must differ)"},
      {R"({"id": 46, "task": "t", "question": "q", "choices": ["cat", ""], "answer": "A"})", "choices[1]: empty option"},
      {R"({"id": 47, "task": "t", "question": "q", "choices": ["cat", {"x": 1}], "answer": "A"})",
       "choices[1]: expected a string or a number, got {\"x\":1}"},
      {R"({"id": 48, "task": "t", "question": "q", "choices": ["a", "b", "c", "d"], "answer": "E"})",
       "answer 'E' is neither a letter A-D nor one of the choices"},
      {R"({"id": 49, "task": "t", "question": "q", "choices": ["x", "A"], "answer": "A"})",
       "answer 'A' is ambiguous: the letter A or the text of choice B"},
      {R"({"id": 50, "task": "t", "question": "q", "choices": ["x", "y"], "answer": ["A", "z"]})",
       "answer[1] 'z' is neither a letter A-B nor one of the choices"},
      {R"({"id": 51, "task": "t", "question": "q"})", "missing key 'answer'"},
      {R"({"id": 52, "task": "t", "question": "q", "answer": true})",
       "answer: expected a string or a number (or a list of them), got true"},
      {R"({"id": 53, "task": "t", "question": "q", "answer": []})", "key 'answer': empty list"},
      {R"({"id": 54, "task": "t", "question": "q", "answer": ["ok", " "]})", "answer[1]: empty answer"},
      {R"({"id": "1", )" + q + "}", "id '1' is already used on line 1"},  // the string "1" is the integer 1
  };
  std::string text = R"({"id": 1, )" + q + "}\n";
  for (const auto& [line, _] : bad) text += line + "\n";
  const fs::path file = write(text);

  const Dataset d = load_dataset(file, false);
  std::vector<std::pair<int64_t, std::string>> expected;
  for (std::size_t i = 0; i < bad.size(); ++i)
    if (!bad[i].second.empty()) expected.emplace_back(static_cast<int64_t>(i) + 2, bad[i].second);
  ASSERT_EQ(d.issues.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(d.issues[i].line, expected[i].first) << d.issues[i].message;
    EXPECT_TRUE(d.issues[i].message.starts_with(expected[i].second))
        << "line " << d.issues[i].line << ": got \"" << d.issues[i].message << "\", want \"" << expected[i].second << "\"";
  }
  ASSERT_EQ(d.samples.size(), 2u);  // the first line and the one valid line among the bad ones
  EXPECT_EQ(d.samples[0].line, 1);
  EXPECT_EQ(d.samples[1].id, "42");

  const std::string summary = describe_issues(d, 2);
  EXPECT_EQ(summary, fmt::format("{}: {} of {} samples skipped:\n  line 2: {}\n  line 3: {}\n  ... and {} more",
                                 file.string(), d.issues.size(), d.issues.size() + 2, d.issues[0].message,
                                 d.issues[1].message, d.issues.size() - 2));
}

TEST_F(DatasetFiles, StrictThrowsTheFirstIssueWithFileAndLine) {
  const fs::path file = write(R"({"id": 1, "task": "t", "question": "q", "answer": "x"})" "\n\n"
                              R"({"id": 2, "task": "t", "question": "q", "images": ["nope.png"], "answer": "x"})" "\n"
                              "not json\n");
  try {
    load_dataset(file, true);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(std::string(e.what()),
              file.string() + ": line 3: images[0]: image not found: " + (dir() / "nope.png").string());
  }
  // Without strict the same file loads, with both problems listed.
  const Dataset d = load_dataset(file, false);
  EXPECT_EQ(d.samples.size(), 1u);
  ASSERT_EQ(d.issues.size(), 2u);
  EXPECT_EQ(d.issues[1].line, 4);
}

TEST_F(DatasetFiles, FileProblems) {
  try {
    load_dataset(dir() / "absent.jsonl", false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::NotFound);
    EXPECT_EQ(e.file(), (dir() / "absent.jsonl").string());
  }
  EXPECT_THROW(load_dataset(dir() / "img", false), Error);
  const fs::path blank = write("\n  \n\r\n", "blank.jsonl");
  try {
    load_dataset(blank, false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), blank.string() + ": no samples: the file is empty");
  }
}

TEST_F(DatasetFiles, ByteOrderMarkAndCrlf) {
  const fs::path file = write("\xEF\xBB\xBF" R"({"id": 1, "task": "t", "question": "q", "answer": "x"})" "\r\n"
                              R"({"id": 2, "task": "t", "question": "q", "answer": "y"})" "\r\n");
  const Dataset d = load_dataset(file, true);
  ASSERT_EQ(d.samples.size(), 2u);
  EXPECT_EQ(d.samples[1].answers, (std::vector<std::string>{"y"}));
}

TEST_F(DatasetFiles, UnknownKeysAreWarnedOnceEach) {
  const fs::path file = write(
      R"({"id": 1, "task": "t", "question": "q", "answer": "x", "options": "['a']", "doc_id": 5})" "\n"
      R"({"id": 2, "task": "t", "question": "q", "answer": "x", "options": "['b']"})" "\n"
      R"({"id": 3, "task": "t", "answer": "x", "messages": [{"role": "user", "name": "u", "content": [{"type": "image", "image": "dog.jpg", "max_pixels": 100}]}]})" "\n");
  ::testing::internal::CaptureStderr();
  const Dataset d = load_dataset(file, true);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(d.samples.size(), 3u);
  EXPECT_NE(err.find("ignoring keys trimvl does not use: doc_id (first on line 1), "
                     "messages[].content[].max_pixels (first on line 3), messages[].name (first on line 3), "
                     "options (first on line 1; did you mean 'choices'?)"),
            std::string::npos)
      << err;
}

}  // namespace
}  // namespace trimvl::app::eval
