"""C declarations of the libhivex 1.3 public API (hivex.h), restated for cffi's ABI mode.

Handles for keys ("nodes") and values are opaque size_t offsets into the hive; 0 means
failure (with errno set) or, for the two lookups, "not found" (errno left at 0). Every
string and array the library returns is malloc'd and must be released with ``free``,
which is declared here too and resolved from the C library.
"""

CDEF = r"""
typedef struct hive_h hive_h;
typedef size_t hive_node_h;
typedef size_t hive_value_h;

typedef enum hive_type {
    hive_t_REG_NONE = 0,
    hive_t_REG_SZ = 1,
    hive_t_REG_EXPAND_SZ = 2,
    hive_t_REG_BINARY = 3,
    hive_t_REG_DWORD = 4,
    hive_t_REG_DWORD_BIG_ENDIAN = 5,
    hive_t_REG_LINK = 6,
    hive_t_REG_MULTI_SZ = 7,
    hive_t_REG_RESOURCE_LIST = 8,
    hive_t_REG_FULL_RESOURCE_DESCRIPTOR = 9,
    hive_t_REG_RESOURCE_REQUIREMENTS_LIST = 10,
    hive_t_REG_QWORD = 11
} hive_type;

#define HIVEX_OPEN_VERBOSE 1
#define HIVEX_OPEN_DEBUG 2
#define HIVEX_OPEN_WRITE 4
#define HIVEX_OPEN_UNSAFE 8
#define HIVEX_VISIT_SKIP_BAD 1

typedef struct hive_set_value {
    char *key;
    hive_type t;
    size_t len;
    char *value;
} hive_set_value;

hive_h *hivex_open(const char *filename, int flags);
int hivex_close(hive_h *h);
int hivex_commit(hive_h *h, const char *filename, int flags);

hive_node_h hivex_root(hive_h *h);
int64_t hivex_last_modified(hive_h *h);

char *hivex_node_name(hive_h *h, hive_node_h node);
size_t hivex_node_name_len(hive_h *h, hive_node_h node);
int64_t hivex_node_timestamp(hive_h *h, hive_node_h node);
hive_node_h *hivex_node_children(hive_h *h, hive_node_h node);
hive_node_h hivex_node_get_child(hive_h *h, hive_node_h node, const char *name);
size_t hivex_node_nr_children(hive_h *h, hive_node_h node);
hive_node_h hivex_node_parent(hive_h *h, hive_node_h node);
hive_value_h *hivex_node_values(hive_h *h, hive_node_h node);
hive_value_h hivex_node_get_value(hive_h *h, hive_node_h node, const char *key);
size_t hivex_node_nr_values(hive_h *h, hive_node_h node);
size_t hivex_node_struct_length(hive_h *h, hive_node_h node);

size_t hivex_value_key_len(hive_h *h, hive_value_h val);
char *hivex_value_key(hive_h *h, hive_value_h val);
int hivex_value_type(hive_h *h, hive_value_h val, hive_type *t, size_t *len);
size_t hivex_value_struct_length(hive_h *h, hive_value_h val);
hive_value_h hivex_value_data_cell_offset(hive_h *h, hive_value_h val, size_t *len);
char *hivex_value_value(hive_h *h, hive_value_h val, hive_type *t, size_t *len);
char *hivex_value_string(hive_h *h, hive_value_h val);
char **hivex_value_multiple_strings(hive_h *h, hive_value_h val);
int32_t hivex_value_dword(hive_h *h, hive_value_h val);
int64_t hivex_value_qword(hive_h *h, hive_value_h val);

hive_node_h hivex_node_add_child(hive_h *h, hive_node_h parent, const char *name);
int hivex_node_delete_child(hive_h *h, hive_node_h node);
int hivex_node_set_values(hive_h *h, hive_node_h node, size_t nr_values,
                          const hive_set_value *values, int flags);
int hivex_node_set_value(hive_h *h, hive_node_h node, const hive_set_value *val, int flags);

void free(void *ptr);
"""
