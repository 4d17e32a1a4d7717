#include "app/eval/evaluator.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <span>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "app/eval/aggregate.h"
#include "app/eval/dataset.h"
#include "app/eval/mcq_extract.h"
#include "app/eval/progress.h"
#include "app/eval/prompt.h"
#include "app/eval/results_json.h"
#include "app/eval/sample_journal.h"
#include "app/eval/sample_record.h"
#include "app/eval/summary_csv.h"
#include "app/eval/task_metrics.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"

#ifdef TRIMVL_HAVE_MEDIA
#include "app/eval/plots.h"
#endif

namespace trimvl::app::eval {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A dataset edited between two runs must not resume the first one's files: its bytes are part of
// the resolved options (datasets are small; media files are checked by the engine).
std::string content_hash(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return fnv1a_hex(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
}

// The text the record logs as lmms-eval's "input": the last user message's text parts.
std::string input_text(const std::vector<Message>& messages) {
  std::string text;
  if (messages.empty()) return text;
  for (const Part& part : messages.back().parts)
    if (part.kind == Part::Kind::Text) text += part.text;
  return text;
}

struct Selected {
  std::vector<std::string> tasks;                    // first-seen order
  std::map<std::string, int64_t> n_original;         // valid samples per task
  std::vector<std::pair<const Sample*, int64_t>> samples;  // with their doc_id (index in the task)
};

Selected select(const Dataset& dataset, const EvalOptions& options) {
  Selected s;
  std::map<std::string, std::vector<std::pair<const Sample*, int64_t>>> by_task;
  for (const Sample& sample : dataset.samples) {
    auto& list = by_task[sample.task];
    if (list.empty()) s.tasks.push_back(sample.task);
    list.emplace_back(&sample, static_cast<int64_t>(list.size()));
  }
  for (const std::string& wanted : options.tasks)
    TRIMVL_CHECK_ARG(by_task.contains(wanted), "--tasks: {} has no task '{}' (tasks: {})", dataset.file.string(),
                     wanted, fmt::join(s.tasks, ", "));
  if (!options.tasks.empty())
    std::erase_if(s.tasks, [&](const std::string& t) {
      return std::find(options.tasks.begin(), options.tasks.end(), t) == options.tasks.end();
    });
  // Shuffling picks which samples a --limit keeps; the run still goes in dataset order, every task
  // interleaved as the file has them, so an interrupted run has covered every task.
  std::mt19937_64 rng(options.seed);
  std::unordered_map<const Sample*, int64_t> chosen;
  for (const std::string& task : s.tasks) {
    auto list = by_task[task];
    s.n_original[task] = static_cast<int64_t>(list.size());
    if (options.shuffle) std::shuffle(list.begin(), list.end(), rng);
    if (options.limit && static_cast<int64_t>(list.size()) > *options.limit) list.resize(static_cast<size_t>(*options.limit));
    for (const auto& [sample, doc_id] : list) chosen.emplace(sample, doc_id);
  }
  for (const Sample& sample : dataset.samples)
    if (const auto it = chosen.find(&sample); it != chosen.end()) s.samples.emplace_back(&sample, it->second);
  return s;
}

nlohmann::json resolved_config(const EvalOptions& options) {
  nlohmann::json generation = {{"max_new_tokens", options.generation.max_new_tokens.value_or(-1)},
                               {"temperature", options.generation.temperature.value_or(0)},
                               {"top_k", options.generation.top_k.value_or(-1)},
                               {"top_p", options.generation.top_p.value_or(-1)},
                               {"min_p", options.generation.min_p.value_or(-1)},
                               {"repetition_penalty", options.generation.repetition_penalty.value_or(-1)},
                               {"seed", options.seed},
                               {"stop", options.generation.stop}};
  nlohmann::json configs = nlohmann::json::array();
  for (const SweepConfig& c : options.configs) {
    const KvCacheSettings& k = c.settings;
    configs.push_back({{"label", c.config.label()},
                       {"buffer", k.buffer.value_or(-1)},
                       {"strategy", k.strategy.value_or("")},
                       {"alpha", k.alpha.value_or(-1)},
                       {"min_per_head", k.min_per_head.value_or(-1)},
                       {"lookahead", k.lookahead.value_or(-1)},
                       {"window", k.window.value_or(-1)},
                       {"sinks", k.sinks.value_or(-1)},
                       {"prefill_chunk", k.prefill_chunk.value_or(-1)},
                       {"gates", k.gates}});
  }
  return {{"model", options.model_name},
          {"engine", options.engine_config},
          {"dataset", std::filesystem::absolute(options.dataset).lexically_normal().string()},
          {"dataset_hash", content_hash(options.dataset)},
          {"tasks", options.tasks},
          {"limit", options.limit.value_or(-1)},
          {"shuffle", options.shuffle},
          {"likelihood_mcq", options.likelihood_mcq},
          {"trace", options.trace},
          {"generation", generation},
          {"configurations", configs}};
}

struct Answer {
  std::string text;
  Stats stats;
};

// Likelihood MCQ: the option letter with the highest log-probability as the answer.
Answer answer_by_likelihood(Engine& engine, const Request& request, size_t choices) {
  std::vector<double> totals;
  Answer answer;
  for (size_t i = 0; i < choices; ++i) {
    const Score score = engine.score(request, std::string(1, static_cast<char>('A' + i)));
    totals.push_back(score.total);
    answer.stats = score.stats;
  }
  answer.text = std::string(1, static_cast<char>('A' + pick_by_loglik(totals)));
  return answer;
}

TaskResult aggregate(const std::string& task, const SweepConfig& config, const SampleJournal& journal,
                     int64_t n_original) {
  TaskResult result;
  result.task = task;
  result.config = config.config;
  result.n_original = n_original;
  std::vector<SampleRecord> records;
  for (const nlohmann::json& line : journal.records())
    records.push_back(sample_from_json(line, journal.path().string()));
  result.n_effective = static_cast<int64_t>(records.size());
  std::map<std::string, std::vector<double>> values;
  std::vector<std::string> order;
  for (const SampleRecord& r : records)
    for (const auto& [name, value] : r.metrics) {
      if (!values.contains(name)) order.push_back(name);
      values[name].push_back(value);
    }
  for (const std::string& name : order) {
    const MetricSummary s = summarize(values[name]);
    result.metrics.push_back({name, s.mean, s.std_error, true});
  }
  const KvMeans means = kv_means(records);
  result.mean_peak_kv_bytes = means.peak_kv_bytes;
  result.mean_ttft_s = means.ttft_s;
  result.mean_tokens_per_s = means.tokens_per_s;
  return result;
}

#ifdef TRIMVL_HAVE_MEDIA
// A chart that cannot be drawn (e.g. no KV memory recorded) is reported, not fatal: the results are
// already written by then.
void draw_plots(const RunDirectory& run, const std::vector<TaskResult>& results, const std::vector<std::string>& tasks,
                std::vector<std::filesystem::path>& written) {
  for (const std::string& task : tasks) {
    std::vector<std::string> metrics;
    for (const TaskResult& r : results)
      if (r.task == task)
        for (const MetricResult& m : r.metrics)
          if (std::find(metrics.begin(), metrics.end(), m.name) == metrics.end()) metrics.push_back(m.name);
    for (const std::string& metric : metrics) {
      const auto path = run.accuracy_plot(task, metric);
      try {
        plot_accuracy_vs_budget(path, accuracy_plot_data(results, task, metric));
        written.push_back(path);
      } catch (const Error& e) {
        log::warn("eval: no chart {}: {}", path.string(), e.what());
      }
    }
    const auto path = run.kv_memory_plot(task);
    try {
      plot_kv_memory_vs_budget(path, kv_memory_plot_data(results, task));
      written.push_back(path);
    } catch (const Error& e) {
      log::warn("eval: no chart {}: {}", path.string(), e.what());
    }
  }
}
#endif

}  // namespace

EvalOutcome run_eval(const EvalOptions& options, const std::function<Engine&()>& get_engine) {
  TRIMVL_CHECK_ARG(!options.configs.empty(), "eval: no KV configuration to evaluate");
  TRIMVL_CHECK_ARG(!options.limit || *options.limit >= 1, "--limit must be at least 1, got {}", *options.limit);
  const double start = now_s();
  const Dataset dataset = load_dataset(options.dataset, options.strict);
  EvalOutcome outcome;
  outcome.invalid_samples = static_cast<int64_t>(dataset.issues.size());
  if (!dataset.issues.empty()) log::warn("{}", describe_issues(dataset));
  TRIMVL_CHECK_ARG(!dataset.samples.empty(), "{}: no valid sample to evaluate", options.dataset.string());
  const Selected selected = select(dataset, options);

  const nlohmann::json resolved = resolved_config(options);  // reads and hashes the dataset file: once
  outcome.run = open_run(options.output_dir, options.model_name, resolved, options.resume);
  const RunDirectory& run = outcome.run;
  if (std::error_code ec; options.trace && (std::filesystem::create_directories(run.dir / "traces", ec), ec))
    throw Error(fmt::format("{}: cannot create the trace directory: {}", (run.dir / "traces").string(), ec.message()));
  log::info("eval: {} {} into {}", run.resumed ? "resuming" : "starting", run.date, run.dir.string());

  // One journal per (task, configuration), all open (and locked) for the whole run.
  std::map<std::string, SampleJournal> journals;
  for (const std::string& task : selected.tasks)
    for (const SweepConfig& c : options.configs)
      journals.emplace(result_key(task, c.config), SampleJournal::open(run.samples(result_key(task, c.config))));
  const int64_t total = static_cast<int64_t>(selected.samples.size() * options.configs.size());
  for (const auto& [key, journal] : journals) outcome.resumed += static_cast<int64_t>(journal.size());

  GenerationSettings generation = options.generation;
  if (!generation.temperature) generation.temperature = 0;  // greedy unless asked
  if (!generation.seed) generation.seed = options.seed;
  {
    Progress progress(total, options.progress, stderr, {}, outcome.resumed);
    const SweepConfig* current = nullptr;
    bool engine_loaded = false;
    for (const auto& [sample, doc_id] : selected.samples) {
      const std::vector<Message> messages = prompt_messages(*sample);
      for (const SweepConfig& c : options.configs) {
        SampleJournal& journal = journals.at(result_key(sample->task, c.config));
        if (journal.done(sample->id)) continue;
        if (!engine_loaded) progress.clear();  // loading logs; keep its lines off the progress line
        Engine& engine = get_engine();
        engine_loaded = true;
        if (current != &c) {
          engine.set_kv_cache(c.settings);
          current = &c;
        }
        engine.reset();
        Request request;
        request.messages = messages;
        request.generation = generation;
        if (options.trace)
          request.trace = run.trace(sample->id, c.config.label());
        Answer answer;
        try {
          if (options.likelihood_mcq && sample->is_mcq()) {
            answer = answer_by_likelihood(engine, request, sample->choices.size());
          } else {
            Reply reply = engine.ask(request);
            answer = {std::move(reply.text), reply.stats};
          }
        } catch (const Error& e) {
          if (e.kind() == Error::Kind::Cancelled || e.kind() == Error::Kind::Internal || options.strict) throw;
          progress.clear();
          log::error("eval: {} line {} ({}) under {}: {}", dataset.file.string(), sample->line, sample->id,
                     c.config.label(), e.what());
          ++outcome.failed;
          continue;
        }
        const SampleScore score = score_response(*sample, answer.text);
        SampleRecord record;
        record.doc_id = doc_id;
        record.input = input_text(messages);
        record.answers = sample->answers;
        record.response = answer.text;
        record.filtered = score.filtered_response;
        record.metrics.assign(score.metrics.begin(), score.metrics.end());
        record.config = c.config;
        const Stats& st = answer.stats;
        record.peak_kv_bytes = st.peak_kv_bytes;
        record.kept_tokens = {st.kept_text, st.kept_image, st.kept_video, st.kept_generated};
        record.ttft_s = st.ttft_s;
        record.tokens_per_s = st.tokens_per_s();
        record.prompt_tokens = st.prompt_tokens;
        record.generated_tokens = st.generated_tokens;
        if (options.trace) record.trace = std::filesystem::relative(request.trace, run.dir).string();
        journal.append(sample->id, to_json(record));
        ++outcome.evaluated;
        progress.advance(st.generated_tokens);
      }
    }
    progress.finish();
  }

  for (const std::string& task : selected.tasks)
    for (const SweepConfig& c : options.configs) {
      const SampleJournal& journal = journals.at(result_key(task, c.config));
      if (journal.size() > 0) outcome.results.push_back(aggregate(task, c, journal, selected.n_original.at(task)));
    }

  ResultsInfo info;
  info.model_name = options.model_name;
  info.model_args = fmt::format("pretrained={}", options.model_name);
  info.config = resolved;
  info.policies = options.policies;
  info.budgets = options.budgets;
  info.git_hash = options.git_hash;
  info.trimvl_version = options.version;
  info.date = run.date;
  info.start_time = start;
  info.end_time = now_s();
  write_results_json(run.results(), results_json(outcome.results, info));
  write_summary_csv(run.summary_csv(), outcome.results);
#ifdef TRIMVL_HAVE_MEDIA
  draw_plots(run, outcome.results, selected.tasks, outcome.plots);
#else
  log::info("eval: charts need a build with media (OpenCV); results and CSV are written");
#endif
  return outcome;
}

}  // namespace trimvl::app::eval
