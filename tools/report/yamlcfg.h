/* Small helpers over libyaml's document API for the report's two config
 * files (prices, SLOs): load a file, walk a mapping, read scalars. */
#ifndef JM_REP_YAMLCFG_H
#define JM_REP_YAMLCFG_H
#include <stddef.h>
#include <yaml.h>

/* Parse path into doc (caller calls yaml_document_delete).  Errors name the
 * line and column. */
int jm_rep_yaml_load(const char *path, yaml_document_t *doc, char *err, size_t err_len)
	__attribute__((warn_unused_result));
/* Scalar text of a node, NULL when the node is not a scalar. */
const char *jm_rep_yaml_scalar(yaml_document_t *doc, int node_id);
/* A finite number ("0.99", "5", "1e-3"). */
int jm_rep_yaml_number(const char *s, double *v) __attribute__((warn_unused_result));
#endif
