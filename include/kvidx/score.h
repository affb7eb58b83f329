/*
 * kvidx/score.h: the longest-prefix scorer.
 *
 * A pod's score for a chain of block keys is the sum, over the consecutive
 * blocks it holds from block 0 on, of the weight of the best tier it holds
 * each block in. The same results as llm-d's LongestPrefixScorer.
 */
#ifndef KVIDX_SCORE_H
#define KVIDX_SCORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  double weight[KVIDX_TIER_COUNT]; /* defaults: gpu 1.0, cpu 0.8 (see docs) */
} kvidx_tier_weights;

/* Defaults: gpu 1.0, cpu 0.8, fs 0.4, storage 0.3, obj 0.2 (llm-d's
 * gpu/cpu/shared_storage/storage/object_store defaults). */
KVIDX_EXPORT void kvidx_tier_weights_init(kvidx_tier_weights *w);
/* Sets the weight of a tier by name (case-insensitive). KVIDX_ENOTFOUND for
 * an unknown tier, KVIDX_EINVAL for a negative or non-finite weight. */
KVIDX_EXPORT int kvidx_tier_weights_set(kvidx_tier_weights *w, const char *tier,
                                        double weight);

typedef struct {
  uint32_t pod;
  double score;    /* tier-weighted blocks */
  uint32_t blocks; /* length of the held prefix in blocks */
} kvidx_pod_score;

/*
 * Scores pods for keys[0..n) of model. pods/n_pods restrict the candidates
 * (n_pods == 0: all pods). Writes the pods holding at least block 0 (blocks
 * >= 1; their score is non-zero unless a tier weight is 0) to
 * out[0..*n_out), highest score first (ties: longer prefix, then lower pod
 * id), at most max_out of them; *n_out is the number written. w NULL means
 * the defaults. Errors: KVIDX_EINVAL (NULL pointers, model or a pod id never
 * interned), KVIDX_ENOMEM, KVIDX_EUNAVAIL (backend down). Thread-safe; costs
 * O(holders seen + n_pods). Each calling thread keeps the scorer's per-pod
 * arrays (16 bytes per interned pod) between calls; they are freed when the
 * thread exits.
 */
KVIDX_EXPORT int kvidx_score_prefix(kvidx_index *idx,
                                    const kvidx_tier_weights *w, uint32_t model,
                                    const uint64_t *keys, size_t n,
                                    const uint32_t *pods, size_t n_pods,
                                    kvidx_pod_score *out, size_t max_out,
                                    size_t *n_out);

#ifdef __cplusplus
}
#endif
#endif /* KVIDX_SCORE_H */
