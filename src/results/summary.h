#pragma once
// Statistics over seeds: curves (mean, min, max per epoch) and the numbers of
// a report (final and best validation accuracy, epochs to a threshold, ...).
#include <map>
#include <string>
#include <vector>

#include "runs/csv_table.h"
#include "runs/discovery.h"

namespace bnlab::results {

struct MeanStd {
  double mean = 0, std = 0;  // std: sample standard deviation (0 for one value)
  int count = 0;
};
MeanStd mean_std(const std::vector<double>& values);
double median(std::vector<double> values);

// One metric against x over several runs; x values present in any run, each
// statistic over the runs that have it (a diverged run stops early).
struct Curve {
  std::vector<double> x, mean, min, max;
};
Curve aggregate_curve(const std::vector<runs::CsvTable>& tables, const std::string& x_column,
                      const std::string& metric);

struct VariantSummary {
  std::string variant;
  int runs = 0;
  std::map<std::string, int> statuses;  // from run.json ("unknown" without one)
  MeanStd final_val_accuracy, best_val_accuracy, final_loss;
  MeanStd epochs_to_threshold;  // over the runs that reached it
  int reached_threshold = 0;
  double ms_per_step = 0;  // median over all epochs of all runs
};

std::vector<VariantSummary> summarize_variants(const std::vector<runs::RunRef>& runs, double threshold);

}  // namespace bnlab::results
