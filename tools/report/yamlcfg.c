/* YAML helpers: see yamlcfg.h. */
#include "tools/report/yamlcfg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int jm_rep_yaml_load(const char *path, yaml_document_t *doc, char *err, size_t err_len)
{
	yaml_parser_t parser;
	FILE *f;
	int rc = -1;

	f = fopen(path, "rb");
	if (!f) {
		snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (!yaml_parser_initialize(&parser)) {
		snprintf(err, err_len, "out of memory");
		fclose(f);
		return -1;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, doc)) {
		snprintf(err, err_len, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
			 parser.problem_mark.column + 1, parser.problem ? parser.problem : "invalid YAML");
		goto out;
	}
	rc = 0;
out:
	yaml_parser_delete(&parser);
	fclose(f);
	return rc;
}

const char *jm_rep_yaml_scalar(yaml_document_t *doc, int node_id)
{
	yaml_node_t *n = yaml_document_get_node(doc, node_id);

	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)n->data.scalar.value;
}

int jm_rep_yaml_number(const char *s, double *v)
{
	char *end;

	if (!s || !*s)
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	if (errno || *end || !isfinite(*v))
		return -1;
	return 0;
}
