# openEBGM's whole pipeline on one long table, as its vignettes 02-04 run it, for
# benchmarks/bench_signal_peers.py (which starts this script as a fresh Rscript process per
# run and measures it with os.wait4).
#
#   Rscript benchmarks/peers/openebgm_run.R --input TABLE.csv --id ID --drug DRUG \
#     --event EVENT --out SCORES.csv [--fit default|em|zeroes|explore] [--lib /tmp/R-lib]
#     [--max-zero-cells 2e7]
#
# Stages: read the long table (data.table::fread, the three columns only), processRaw
# (N and E as counts of distinct report ids, openEBGM's own convention, unstratified),
# autoSquash (its defaults), autoHyper (its defaults, with vignette 04's five starting
# points), ebScores (EBGM and the 5th and 95th posterior percentiles), write every pair
# (data.table::fwrite). The last stdout line is one JSON object: stage times, sizes, and
# what each fit attempt did (written with jsonlite: Debian r-cran-jsonlite).
#
# --fit default: autoHyper as above; if it fails, the error is recorded and nothing is
#   scored (the run still exits 0, so the failure is measured rather than hidden).
# --fit em: the same first; if autoHyper fails, openEBGM's EM fitter hyperEM on the same
#   squashed points, from the start its vignette 03 uses (1, 1, 2, 2, 0.3), its other
#   arguments at their defaults.
# --fit zeroes: the same first; if autoHyper fails, what its error message advises next:
#   processRaw(zeroes = TRUE) (every drug x event cell, N = 0 included), autoSquash, and
#   autoHyper(zeroes = TRUE, N_star = NULL); the pairs with N >= 1 are then scored with
#   that prior (vignette 02). Not attempted when the cell table would exceed
#   --max-zero-cells (default 2e7): on a machine shared with others, a 90 M-row table of
#   factors is not built just to see it fail.
# --fit explore: the same first; if autoHyper fails, exploreHypers (nlminb, the same five
#   starts, as vignette 03 shows; max_pts raised to the number of squashed points if
#   there are more than its default 20,000) and the convergent, in-bounds start with the
#   smallest negative log-likelihood: autoHyper's own first candidate, without its rule
#   that another start must land close to it.

started <- proc.time()[["elapsed"]]
args <- commandArgs(trailingOnly = TRUE)
option <- function(name, default = NULL) {
  at <- match(paste0("--", name), args)
  if (is.na(at)) {
    if (is.null(default)) stop("missing --", name)
    return(default)
  }
  args[[at + 1L]]
}
lib <- option("lib", "")
if (nzchar(lib)) .libPaths(c(lib, .libPaths()))
fit_mode <- option("fit", "default")
stopifnot(fit_mode %in% c("default", "em", "zeroes", "explore"))
max_zero_cells <- as.numeric(option("max-zero-cells", "2e7"))

stages <- list()
clock <- started
stage <- function(name) {
  now <- proc.time()[["elapsed"]]
  stages[[name]] <<- round(now - clock, 2)
  clock <<- now
}

suppressPackageStartupMessages({
  library(data.table)
  library(openEBGM)
})
stage("load packages")

columns <- c(option("id"), option("drug"), option("event"))
raw <- data.table::fread(option("input"), select = columns, colClasses = "character",
                         showProgress = FALSE)
data.table::setnames(raw, columns, c("id", "var1", "var2"))
stage("read")

processed <- processRaw(raw)
rows <- nrow(raw)
if (fit_mode != "zeroes") rm(raw)  # the zero-cell refit starts again from the rows
stage("processRaw")

squashed <- autoSquash(processed)
stage("autoSquash")

# Vignette 04's starting points (the package has no default theta_init).
theta_init <- data.frame(alpha1 = c(0.2, 0.1, 0.3, 0.5, 0.2),
                         beta1  = c(0.1, 0.1, 0.5, 0.3, 0.2),
                         alpha2 = c(2,   10,  6,   12,  5),
                         beta2  = c(4,   10,  6,   12,  5),
                         p      = c(1/3, 0.2, 0.5, 0.8, 0.4))
log_lik <- function(theta) {
  -negLLsquash(theta, ni = squashed$N, ei = squashed$E, wi = squashed$weight, N_star = 1)
}
named <- function(theta) {
  theta <- as.numeric(theta)
  names(theta) <- c("alpha1", "beta1", "alpha2", "beta2", "P")
  theta
}
attempts <- list()
# One fit: `fit()` returns list(hyper = <what ebScores takes>, details = <list>) or stops;
# what happened is appended to `attempts` either way. Returns the hyper list or NULL.
try_fit <- function(fitter, fit, on_failure = list()) {
  found <- tryCatch(suppressWarnings(fit()), error = function(e) e)
  if (inherits(found, "error")) {
    attempts[[length(attempts) + 1L]] <<- c(
      list(fitter = fitter, status = "failed", error = conditionMessage(found)), on_failure)
    return(NULL)
  }
  theta <- named(found$hyper$estimates)
  attempts[[length(attempts) + 1L]] <<- c(
    list(fitter = fitter, status = "converged"), found$details,
    list(estimates = as.list(theta), loglik = log_lik(theta)))
  found$hyper
}

hyper <- try_fit("autoHyper", function() {
  found <- autoHyper(squashed, theta_init = theta_init)
  list(hyper = found, details = list(optimiser = found$method, num_close = found$num_close))
}, on_failure = list(starts = nrow(theta_init)))
stage("autoHyper")

if (is.null(hyper) && fit_mode == "em") {
  hyper <- try_fit("hyperEM", function() {
    found <- hyperEM(squashed, theta_init_vec = c(1, 1, 2, 2, 0.3), print_level = 0)
    list(hyper = list(estimates = named(found$estimates)),
         details = list(iterations = found$iters, score_norm = found$score_norm))
  })
  stage("hyperEM")
}

if (is.null(hyper) && fit_mode == "explore") {
  hyper <- try_fit("exploreHypers", function() {
    # max_pts raised to the squashed size when autoSquash leaves more than its default
    # 20,000 points, as the error message advises (it does from about 10 M rows).
    starts <- exploreHypers(squashed, theta_init = theta_init,
                            max_pts = max(20000, nrow(squashed)))$estimates
    usable <- starts[starts$converge %in% TRUE & starts$in_bounds %in% TRUE, ]
    per_start <- lapply(seq_len(nrow(starts)), function(i) as.list(starts[i, ]))
    if (nrow(usable) == 0L) {
      stop("no start converged in bounds: ", jsonlite::toJSON(per_start, auto_unbox = TRUE))
    }
    best <- usable[which.min(usable$minimum), ]
    theta <- best[, c("a1_hat", "b1_hat", "a2_hat", "b2_hat", "p_hat")]
    list(hyper = list(estimates = named(theta)),
         details = list(optimiser = "nlminb", chosen_start = best$guess_num,
                        usable_starts = nrow(usable), starts = per_start))
  })
  stage("exploreHypers")
}

if (is.null(hyper) && fit_mode == "zeroes") {
  cells <- as.numeric(nlevels(processed$var1)) * nlevels(processed$var2)
  if (cells > max_zero_cells) {
    attempts[[length(attempts) + 1L]] <- list(
      fitter = "autoHyper with zeroes", status = "not attempted",
      error = sprintf("%.0f drug x event cells > --max-zero-cells %.0f", cells,
                      max_zero_cells))
  } else {
    with_zeroes <- processRaw(raw, zeroes = TRUE)
    stage("processRaw with zeroes")
    squashed_zeroes <- autoSquash(with_zeroes)
    stage("autoSquash with zeroes")
    sizes <- list(cells = nrow(with_zeroes), squashed_points = nrow(squashed_zeroes))
    hyper <- try_fit("autoHyper with zeroes", function() {
      found <- autoHyper(squashed_zeroes, theta_init = theta_init, zeroes = TRUE,
                         N_star = NULL)
      with_zeroes_ll <- -negLLzeroSquash(found$estimates, ni = squashed_zeroes$N,
                                         ei = squashed_zeroes$E, wi = squashed_zeroes$weight)
      list(hyper = found, details = c(
        list(optimiser = found$method, num_close = found$num_close,
             loglik_with_zeroes = with_zeroes_ll), sizes))
    }, on_failure = sizes)
    rm(with_zeroes, squashed_zeroes)
    stage("autoHyper with zeroes")
  }
}

scored <- 0L
eb05_at_least_2 <- 0L
if (!is.null(hyper)) {
  scores <- ebScores(processed, hyper_estimate = hyper, quantiles = c(5, 95))
  stage("ebScores")
  data.table::fwrite(scores$data, option("out"))
  scored <- nrow(scores$data)
  eb05_at_least_2 <- sum(scores$data$QUANT_05 >= 2)
  stage("write")
}

cat(jsonlite::toJSON(list(
  stages = stages, total = round(proc.time()[["elapsed"]] - started, 2),
  openebgm = as.character(utils::packageVersion("openEBGM")),
  data_table = as.character(utils::packageVersion("data.table")),
  r = paste(R.version$major, R.version$minor, sep = "."),
  dt_threads = data.table::getDTthreads(), rows = rows, cells = nrow(processed),
  squashed_points = nrow(squashed), fit = fit_mode, attempts = attempts,
  scored = scored, eb05_at_least_2 = eb05_at_least_2),
  auto_unbox = TRUE, digits = NA), "\n")
