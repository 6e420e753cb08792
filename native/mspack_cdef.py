"""C declarations of libmspack's cabinet decompressor, restated for cffi's ABI mode.

Only the CAB side of ``mspack.h`` is declared: the decompressor object with its
method table, the cabinet/folder/file records it hands out, the I/O vtable type
(the library's default one is used, so it stays opaque in practice), and the
error, parameter, attribute, header-flag and compression constants. ``off_t`` is
taken as 64 bits; :func:`wimcore._native.mspack.lib` verifies that with the
library's own self-test before anything else is called.
"""

CDEF = r"""
typedef int64_t off_t;

/* Result codes shared by every libmspack method. */
#define MSPACK_ERR_OK 0
#define MSPACK_ERR_ARGS 1
#define MSPACK_ERR_OPEN 2
#define MSPACK_ERR_READ 3
#define MSPACK_ERR_WRITE 4
#define MSPACK_ERR_SEEK 5
#define MSPACK_ERR_NOMEMORY 6
#define MSPACK_ERR_SIGNATURE 7
#define MSPACK_ERR_DATAFORMAT 8
#define MSPACK_ERR_CHECKSUM 9
#define MSPACK_ERR_CRUNCH 10
#define MSPACK_ERR_DECRUNCH 11

/* Which component's interface version mspack_version() reports. */
#define MSPACK_VER_LIBRARY 0
#define MSPACK_VER_SYSTEM 1
#define MSPACK_VER_MSCABD 2

/* Cabinet header flags. */
#define MSCAB_HDR_PREVCAB 1
#define MSCAB_HDR_NEXTCAB 2
#define MSCAB_HDR_RESV 4

/* Folder compression methods (low four bits of comp_type). */
#define MSCAB_COMP_NONE 0
#define MSCAB_COMP_MSZIP 1
#define MSCAB_COMP_QUANTUM 2
#define MSCAB_COMP_LZX 3

/* File attribute bits as stored in the cabinet. */
#define MSCAB_ATTRIB_RDONLY 1
#define MSCAB_ATTRIB_HIDDEN 2
#define MSCAB_ATTRIB_SYSTEM 4
#define MSCAB_ATTRIB_ARCH 32
#define MSCAB_ATTRIB_EXEC 64
#define MSCAB_ATTRIB_UTF_NAME 128

/* Decompressor tunables for set_param(). */
#define MSCABD_PARAM_SEARCHBUF 0
#define MSCABD_PARAM_FIXMSZIP 1
#define MSCABD_PARAM_DECOMPBUF 2
#define MSCABD_PARAM_SALVAGE 3

struct mspack_file { int dummy; };

/* The I/O abstraction; passing NULL to the constructor selects the stdio one. */
struct mspack_system {
    struct mspack_file *(*open)(struct mspack_system *self, const char *filename, int mode);
    void (*close)(struct mspack_file *file);
    int (*read)(struct mspack_file *file, void *buffer, int bytes);
    int (*write)(struct mspack_file *file, void *buffer, int bytes);
    int (*seek)(struct mspack_file *file, off_t offset, int mode);
    off_t (*tell)(struct mspack_file *file);
    void (*message)(struct mspack_file *file, const char *format, ...);
    void *(*alloc)(struct mspack_system *self, size_t bytes);
    void (*free)(void *ptr);
    void (*copy)(void *src, void *dest, size_t bytes);
    void *null_ptr;
};

struct mscabd_folder {
    struct mscabd_folder *next;     /* following folder of the cabinet (set), or NULL */
    int comp_type;                  /* method in bits 0-3, window/level in bits 8-12 */
    unsigned int num_blocks;
};

struct mscabd_file {
    struct mscabd_file *next;       /* following file, or NULL */
    char *filename;                 /* raw name bytes, NUL-terminated */
    unsigned int length;            /* uncompressed size */
    int attribs;                    /* MSCAB_ATTRIB_* bits */
    char time_h;
    char time_m;
    char time_s;
    char date_d;
    char date_m;
    int date_y;
    struct mscabd_folder *folder;   /* folder holding the data */
    unsigned int offset;            /* offset within the folder's uncompressed stream */
};

struct mscabd_cabinet {
    struct mscabd_cabinet *next;    /* further cabinets found by search() */
    const char *filename;           /* the caller's pointer, never freed by the library */
    off_t base_offset;
    unsigned int length;
    struct mscabd_cabinet *prevcab; /* set neighbours once joined by prepend/append */
    struct mscabd_cabinet *nextcab;
    char *prevname;
    char *nextname;
    char *previnfo;
    char *nextinfo;
    struct mscabd_file *files;
    struct mscabd_folder *folders;
    unsigned short set_id;
    unsigned short set_index;
    unsigned short header_resv;
    int flags;                      /* MSCAB_HDR_* bits */
};

/* The decompressor: a table of methods, each called with the object itself. */
struct mscab_decompressor {
    struct mscabd_cabinet *(*open)(struct mscab_decompressor *self, const char *filename);
    void (*close)(struct mscab_decompressor *self, struct mscabd_cabinet *cab);
    struct mscabd_cabinet *(*search)(struct mscab_decompressor *self, const char *filename);
    int (*append)(struct mscab_decompressor *self, struct mscabd_cabinet *cab,
                  struct mscabd_cabinet *nextcab);
    int (*prepend)(struct mscab_decompressor *self, struct mscabd_cabinet *cab,
                   struct mscabd_cabinet *prevcab);
    int (*extract)(struct mscab_decompressor *self, struct mscabd_file *file,
                   const char *filename);
    int (*set_param)(struct mscab_decompressor *self, int param, int value);
    int (*last_error)(struct mscab_decompressor *self);
};

int mspack_sys_selftest_internal(int offt_size);
int mspack_version(int entity);
struct mscab_decompressor *mspack_create_cab_decompressor(struct mspack_system *sys);
void mspack_destroy_cab_decompressor(struct mscab_decompressor *self);
"""
