"""C declarations for routing libxml2's parser errors, restated for cffi's ABI mode.

libwimlib 1.13 parses a WIM's XML document with libxml2, which prints its parser errors
straight to stderr. wimcore installs a structured error handler (``xmlSetStructuredErrorFunc``,
libxml2 2.x, ``xmlerror.h``) so those messages join libwimlib's own error text instead.
Only the leading fields of ``xmlError`` are read; the layout is libxml2's public one.
"""

CDEF = r"""
typedef struct {
    int domain;
    int code;
    char *message;
    int level;
    char *file;
    int line;
    char *str1;
    char *str2;
    char *str3;
    int int1;
    int int2;
    void *ctxt;
    void *node;
} xmlError;

typedef void (*xmlStructuredErrorFunc)(void *userData, xmlError *error);

void xmlSetStructuredErrorFunc(void *ctx, xmlStructuredErrorFunc handler);
"""
