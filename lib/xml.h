/* XML input on libxml2: safe parsing (no network, no DTD, no entities, size limit) and RelaxNG
 * validation whose problems read "FILE:LINE: what is wrong; what to do" instead of libxml2's
 * wording. Nothing here prints: libxml2's own error output is captured. */
#pragma once

#include <libxml/relaxng.h>
#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc);
#define _cleanup_xml_doc_ _cleanup_(xmlFreeDocp)
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlRelaxNGParserCtxtPtr, xmlRelaxNGFreeParserCtxt);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlRelaxNGPtr, xmlRelaxNGFree);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlRelaxNGValidCtxtPtr, xmlRelaxNGFreeValidCtxt);
static inline void lf_xml_freep(void *p) {
        xmlFree(*(void **)p);
}
/* For strings libxml2 hands out (xmlGetProp, xmlNodeGetContent). */
#define _cleanup_xml_free_ _cleanup_(lf_xml_freep)

/* Largest XML document labforge reads. */
#define LF_XML_MAX_BYTES (1024u * 1024)

/* Parses buf (len bytes, need not be NUL-terminated). A document that is not well-formed, is
 * larger than LF_XML_MAX_BYTES or carries a <!DOCTYPE> is reported to diag as
 * "NAME:LINE: ..." and gives -EINVAL; *ret is then untouched. */
int lf_xml_parse(const char *name, const char *buf, size_t len, lf_diag *diag, xmlDoc **ret);

/* Validates doc against the RelaxNG schema given as text. Every problem found is added to diag
 * as "NAME:LINE: ..." and -EINVAL returned. libxml2 decides validity; the messages come from
 * reading the schema's element and attribute definitions, since libxml2 reports most failures
 * inside <interleave> without a line or a cause. */
int lf_xml_validate(const char *name, xmlDoc *doc, const char *schema, lf_diag *diag);

/* Source line of a node (0 when unknown). */
long lf_xml_line(const xmlNode *n);
/* Whether n is an element called name (in no namespace). */
bool lf_xml_is(const xmlNode *n, const char *name);
/* The value of attribute name of element n, or NULL when it has none; points into the tree. */
const char *lf_xml_attr(const xmlNode *n, const char *name);
