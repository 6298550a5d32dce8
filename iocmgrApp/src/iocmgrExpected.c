/* iocmgrExpected.c - read the expected-instances YAML file with libyaml. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "iocmgrExpected.h"

int iocmgrValidName(const char *name)
{
    size_t i, n = name ? strlen(name) : 0;
    if (n == 0 || n > 63) return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!(islower(c) || isdigit(c) || (c == '-' && i > 0 && i < n - 1))) return -1;
    }
    return 0;
}

typedef struct reader {
    const char *path;
    int (*add)(void *arg, const char *name);
    void *arg;
    char *err;
    size_t errlen;
} reader;

static int fail(reader *r, const yaml_node_t *node, const char *what)
{
    snprintf(r->err, r->errlen, "%s line %lu: %s", r->path,
             node ? (unsigned long)node->start_mark.line + 1 : 0UL, what);
    return -1;
}

static int addScalar(reader *r, const yaml_node_t *node)
{
    const char *name = (const char *)node->data.scalar.value;
    char msg[128];
    if (iocmgrValidName(name) != 0) {
        snprintf(msg, sizeof msg, "'%.60s' is not a Kubernetes object name (lower case, digits, '-')", name);
        return fail(r, node, msg);
    }
    return r->add(r->arg, name);
}

static yaml_node_t *mapGet(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t *p;
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static int readList(reader *r, yaml_document_t *doc, yaml_node_t *list)
{
    yaml_node_item_t *it;
    for (it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(doc, *it);
        if (item->type == YAML_MAPPING_NODE) {
            yaml_node_t *name = mapGet(doc, item, "name");
            if (!name || name->type != YAML_SCALAR_NODE)
                return fail(r, item, "an entry that is a mapping needs a 'name' key");
            item = name;
        }
        if (item->type != YAML_SCALAR_NODE) return fail(r, item, "expected a name");
        if (addScalar(r, item) != 0) return -1;
    }
    return 0;
}

int iocmgrExpectedRead(const char *path, int (*add)(void *, const char *), void *arg,
                       char *err, size_t errlen)
{
    reader r = { path, add, arg, err, errlen };
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root;
    FILE *f = fopen(path, "rb");
    int status = -1;

    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s line %lu: %s", path,
                 (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "malformed YAML");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    root = yaml_document_get_root_node(&doc);
    if (!root) {
        status = 0; /* an empty file expects nothing */
    } else if (root->type == YAML_SEQUENCE_NODE) {
        status = readList(&r, &doc, root);
    } else if (root->type == YAML_MAPPING_NODE) {
        yaml_node_t *list = mapGet(&doc, root, "instances");
        if (!list || list->type != YAML_SEQUENCE_NODE)
            status = fail(&r, root, "expected a list of names, or 'instances:' with a list");
        else
            status = readList(&r, &doc, list);
    } else {
        status = fail(&r, root, "expected a list of names, or 'instances:' with a list");
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return status;
}
