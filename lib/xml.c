/* Safe XML parsing and readable RelaxNG validation on libxml2; see xml.h. */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "xml.h"

long lf_xml_line(const xmlNode *n) {
        long l = n ? xmlGetLineNo(n) : 0;
        return l > 0 ? l : 0;
}

bool lf_xml_is(const xmlNode *n, const char *name) {
        return n && n->type == XML_ELEMENT_NODE && !n->ns && streq((const char *)n->name, name);
}

const char *lf_xml_attr(const xmlNode *n, const char *name) {
        /* Without entities (lf_xml_parse refuses a DTD) an attribute's value is one text node, or
         * none when empty. */
        xmlAttr *a = xmlHasNsProp(n, (const xmlChar *)name, NULL);
        if (!a || a->type != XML_ATTRIBUTE_NODE)
                return NULL;
        if (!a->children)
                return "";
        if (a->children->type != XML_TEXT_NODE || a->children->next)
                return NULL;
        return (const char *)a->children->content;
}

/* "Opening and ending tag mismatch: x line 5 and y\n" -> without the newline, into buf. */
static const char *trim_message(const char *msg, char *buf, size_t len) {
        size_t n = msg ? strlen(msg) : 0;
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
                n--;
        snprintf(buf, len, "%.*s", (int)n, msg ? msg : "");
        return buf;
}

typedef struct parse_state {
        const char *name;
        lf_diag *diag;
        bool failed;
} parse_state;

static void parse_error(void *userdata, xmlErrorPtr e) {
        xmlParserCtxtPtr ctxt = userdata;
        parse_state *s = ctxt->_private;
        char msg[512];
        const char *hint = "fix the XML syntax";

        /* The first error is the cause; what libxml2 says after it is mostly its consequences. */
        if (e->level < XML_ERR_ERROR || s->failed)
                return;
        s->failed = true;
        switch (e->code) {
        case XML_ERR_DOCUMENT_EMPTY:
                lf_diag_add(s->diag, s->name, 0,
                            "the document is empty; a lab manifest starts "
                            "with <lab name=\"...\">");
                return;
        case XML_ERR_ENTITYREF_SEMICOL_MISSING:
        case XML_ERR_UNDECLARED_ENTITY:
        case XML_WAR_UNDECLARED_ENTITY:
                hint = "write a literal '&' as &amp;";
                break;
        case XML_ERR_LT_IN_ATTRIBUTE:
                hint = "write a literal '<' as &lt;";
                break;
        default:
                break;
        }
        lf_diag_add(s->diag, s->name, e->line, "malformed XML: %s; %s",
                    trim_message(e->message, msg, sizeof(msg)), hint);
}

/* A DTD could declare entities (expansion bombs, external files); manifests need none, so the
 * parse stops at <!DOCTYPE before any declaration is read. */
static void refuse_doctype(void *userdata, const xmlChar *name, const xmlChar *external_id,
                           const xmlChar *system_id) {
        xmlParserCtxtPtr ctxt = userdata;
        parse_state *s = ctxt->_private;

        if (!s->failed)
                lf_diag_add(s->diag, s->name, ctxt->input ? ctxt->input->line : 0,
                            "<!DOCTYPE> is not allowed here: labforge reads no DTD or entities; "
                            "remove the declaration");
        s->failed = true;
        xmlStopParser(ctxt);
}

int lf_xml_parse(const char *name, const char *buf, size_t len, lf_diag *diag, xmlDoc **ret) {
        parse_state s = {.name = name, .diag = diag};
        xmlParserCtxtPtr ctxt;
        xmlDocPtr doc;

        if (len > LF_XML_MAX_BYTES)
                return lf_diag_add(diag, name, 0, "is larger than %u bytes; refusing to read it",
                                   LF_XML_MAX_BYTES);
        if (len == 0)
                return lf_diag_add(diag, name, 0,
                                   "the document is empty; a lab manifest starts "
                                   "with <lab name=\"...\">");

        ctxt = xmlNewParserCtxt();
        if (!ctxt)
                return -ENOMEM;
        ctxt->_private = &s;
        ctxt->sax->serror = parse_error;
        ctxt->sax->internalSubset = refuse_doctype;
        /* No XML_PARSE_NOENT (entities stay unexpanded) and no DTD loading; XML_PARSE_NONET so
         * nothing is ever fetched; BIG_LINES so line numbers past 65535 stay right. */
        doc = xmlCtxtReadMemory(ctxt, buf, (int)len, name, NULL,
                                XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOERROR |
                                        XML_PARSE_NOWARNING);
        if (!s.failed && (!doc || !ctxt->wellFormed)) {
                /* Not well-formed without a reported error: still refuse, and say so. */
                s.failed = true;
                lf_diag_add(diag, name, 0, "malformed XML; fix the XML syntax");
        }
        xmlFreeParserCtxt(ctxt);
        if (s.failed) {
                xmlFreeDoc(doc);
                return -EINVAL;
        }
        *ret = doc;
        return 0;
}

/* The explainer: reads the element and attribute definitions of a RelaxNG grammar written in
 * the simple subset labforge's schemas use (element, attribute, optional, zeroOrMore,
 * oneOrMore, interleave, group, choice of values, ref/define, text) and compares a document
 * with them, to say what is wrong and where. */

#define PATTERN_MAX 48
#define EXPLAIN_DEPTH_MAX 64

typedef struct pat_item {
        const char *name;
        bool required, repeat;
        const xmlNode *def;
} pat_item;

typedef struct pattern {
        pat_item attrs[PATTERN_MAX], elems[PATTERN_MAX];
        size_t n_attrs, n_elems;
        bool text;
} pattern;

typedef struct explainer {
        const char *name;
        lf_diag *diag;
        const xmlNode *grammar;
        unsigned found;
} explainer;

static bool rng_is(const xmlNode *n, const char *name) {
        return n && n->type == XML_ELEMENT_NODE && streq((const char *)n->name, name);
}

static const char *rng_name(const xmlNode *n) {
        const char *v = lf_xml_attr(n, "name");
        return v ? v : "";
}

static const xmlNode *find_define(const xmlNode *grammar, const char *name) {
        for (const xmlNode *c = grammar->children; c; c = c->next)
                if (rng_is(c, "define") && streq(rng_name(c), name))
                        return c;
        return NULL;
}

static void pattern_add(pat_item *items, size_t *n, const xmlNode *def, bool required,
                        bool repeat) {
        if (*n >= PATTERN_MAX)
                return;
        items[(*n)++] = (pat_item){rng_name(def), required, repeat, def};
}

static void collect(const xmlNode *grammar, const xmlNode *first, bool required, bool repeat,
                    pattern *p, unsigned depth) {
        if (depth > EXPLAIN_DEPTH_MAX)
                return;
        for (const xmlNode *c = first; c; c = c->next) {
                if (rng_is(c, "attribute"))
                        pattern_add(p->attrs, &p->n_attrs, c, required, repeat);
                else if (rng_is(c, "element"))
                        pattern_add(p->elems, &p->n_elems, c, required, repeat);
                else if (rng_is(c, "optional") || rng_is(c, "choice"))
                        collect(grammar, c->children, false, repeat, p, depth + 1);
                else if (rng_is(c, "zeroOrMore"))
                        collect(grammar, c->children, false, true, p, depth + 1);
                else if (rng_is(c, "oneOrMore"))
                        collect(grammar, c->children, required, true, p, depth + 1);
                else if (rng_is(c, "interleave") || rng_is(c, "group"))
                        collect(grammar, c->children, required, repeat, p, depth + 1);
                else if (rng_is(c, "ref")) {
                        const xmlNode *d = find_define(grammar, rng_name(c));
                        if (d)
                                collect(grammar, d->children, required, repeat, p, depth + 1);
                } else if (rng_is(c, "text") || rng_is(c, "data") || rng_is(c, "value"))
                        p->text = true;
        }
}

static const pat_item *pattern_find(const pat_item *items, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(items[i].name, name))
                        return &items[i];
        return NULL;
}

/* Edit distance of two short names, for "did you mean"; large when either is long. */
static unsigned distance(const char *a, const char *b) {
        enum { N = 32 };
        unsigned row[N + 1];
        size_t la = strlen(a), lb = strlen(b);

        if (la > N || lb > N)
                return N;
        for (size_t j = 0; j <= lb; j++)
                row[j] = (unsigned)j;
        for (size_t i = 1; i <= la; i++) {
                unsigned diag = row[0];
                row[0] = (unsigned)i;
                for (size_t j = 1; j <= lb; j++) {
                        unsigned up = row[j], best = diag + (a[i - 1] != b[j - 1]);
                        if (up + 1 < best)
                                best = up + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        diag = up;
                        row[j] = best;
                }
        }
        return row[lb];
}

static const char *closest(const pat_item *items, size_t n, const char *name) {
        const char *best = NULL;
        unsigned best_d = 3; /* at most two edits away */

        for (size_t i = 0; i < n; i++) {
                unsigned d = distance(name, items[i].name);
                if (d < best_d) {
                        best_d = d;
                        best = items[i].name;
                }
        }
        return best;
}

/* "<a>, <b>" or "a, b": names of items joined for a message. */
static const char *join_names(const pat_item *items, size_t n, bool brackets, char *buf,
                              size_t len) {
        size_t o = 0;
        buf[0] = 0;
        for (size_t i = 0; i < n && o < len; i++)
                o += (size_t)snprintf(buf + o, len - o, "%s%s%s%s", i ? ", " : "",
                                      brackets ? "<" : "", items[i].name, brackets ? ">" : "");
        return buf;
}

/* A value for a message: at most 40 characters, on one line. */
static const char *shorten(const char *s, char *buf, size_t len) {
        size_t o = 0;
        for (; *s && o + 4 < len && o < 40; s++)
                buf[o++] = (*s == '\n' || *s == '\t' || *s == '\r') ? ' ' : *s;
        if (*s && o + 4 <= len)
                o += (size_t)snprintf(buf + o, len - o, "...");
        buf[o] = 0;
        return buf;
}

static void problem(explainer *ex, const xmlNode *n, const char *fmt, ...) _printf_(3, 4);
static void problem(explainer *ex, const xmlNode *n, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        int r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        ex->found++;
        if (r >= 0)
                lf_diag_add(ex->diag, ex->name, lf_xml_line(n), "%s", msg);
}

/* The values an enumerated attribute allows ("never", "listed", "all"), or 0 when any. */
static size_t attr_values(const xmlNode *def, const char **values, size_t max) {
        size_t n = 0;
        for (const xmlNode *c = def->children; c; c = c->next) {
                const xmlNode *first = rng_is(c, "choice") ? c->children : c;
                for (const xmlNode *v = first; v; v = rng_is(c, "choice") ? v->next : NULL)
                        if (rng_is(v, "value") && v->children && n < max)
                                values[n++] = (const char *)v->children->content;
        }
        return n;
}

/* "prefix:name" or "name", for messages. */
static const char *qname(const xmlNs *ns, const xmlChar *name, char *buf, size_t len) {
        if (ns && ns->prefix)
                snprintf(buf, len, "%s:%s", (const char *)ns->prefix, (const char *)name);
        else
                snprintf(buf, len, "%s", (const char *)name);
        return buf;
}

/* Checks the value of an enumerated attribute, naming every allowed value when it is wrong. */
/* What to write for attribute pa: name="a", name="b" or name="c" when it is enumerated,
 * name="..." otherwise; returns false when any value is allowed. */
static bool suggest_values(const pat_item *pa, const char **values, size_t nv, char *buf,
                           size_t len) {
        size_t o = 0;

        snprintf(buf, len, "%s=\"...\"", pa->name);
        for (size_t i = 0; i < nv && o < len; i++) {
                const char *sep = i == 0 ? "" : i + 1 == nv ? " or " : ", ";
                o += (size_t)snprintf(buf + o, len - o, "%s%s=\"%s\"", sep, pa->name, values[i]);
        }
        return nv > 0;
}

static void explain_value(explainer *ex, const xmlNode *n, const pat_item *pa) {
        const char *values[16], *v = lf_xml_attr(n, pa->name);
        size_t nv = attr_values(pa->def, values, ELEMENTSOF(values));
        char buf[512], shown[64];

        if (!suggest_values(pa, values, nv, buf, sizeof(buf)) || !v)
                return;
        for (size_t i = 0; i < nv; i++)
                if (streq(v, values[i]))
                        return;
        problem(ex, n, "invalid %s=\"%s\" on <%s>; use %s", pa->name,
                shorten(v, shown, sizeof(shown)), (const char *)n->name, buf);
}

static void explain_attrs(explainer *ex, const xmlNode *n, const pattern *p) {
        const char *el = (const char *)n->name;
        char buf[512], name[128];

        for (const xmlAttr *a = n->properties; a; a = a->next) {
                qname(a->ns, a->name, name, sizeof(name));
                const pat_item *pa = a->ns ? NULL : pattern_find(p->attrs, p->n_attrs, name);
                const char *guess = closest(p->attrs, p->n_attrs, name);

                if (pa)
                        explain_value(ex, n, pa);
                else if (p->n_attrs == 0)
                        problem(ex, n, "<%s> takes no attributes; remove '%s'", el, name);
                else if (guess)
                        problem(ex, n, "<%s> has no attribute '%s'; did you mean '%s'?", el, name,
                                guess);
                else
                        problem(ex, n, "<%s> has no attribute '%s'; its attributes are: %s", el,
                                name, join_names(p->attrs, p->n_attrs, false, buf, sizeof(buf)));
        }
        for (size_t i = 0; i < p->n_attrs; i++) {
                const pat_item *pa = &p->attrs[i];
                const char *values[16], *an = pa->name;
                if (!pa->required || xmlHasNsProp(n, (const xmlChar *)an, NULL))
                        continue;
                suggest_values(pa, values, attr_values(pa->def, values, ELEMENTSOF(values)), buf,
                               sizeof(buf));
                problem(ex, n, "<%s> lacks the required attribute '%s'; add %s", el, an, buf);
        }
}

static void explain_element(explainer *ex, const xmlNode *n, const xmlNode *def, unsigned depth);

/* The definition of child element c in a pattern; otherwise says why c is not allowed there. */
static const pat_item *explain_child(explainer *ex, const xmlNode *c, const char *parent,
                                     const pattern *p) {
        const char *cn = (const char *)c->name, *guess;
        const pat_item *pe;
        char buf[512];

        if (c->ns) {
                problem(ex, c,
                        "<%s> is in the XML namespace \"%s\"; this document uses no namespace, "
                        "remove the xmlns declaration or prefix",
                        qname(c->ns, c->name, buf, sizeof(buf)),
                        c->ns->href ? (const char *)c->ns->href : "");
                return NULL;
        }
        pe = pattern_find(p->elems, p->n_elems, cn);
        if (pe)
                return pe;
        guess = closest(p->elems, p->n_elems, cn);
        if (!parent)
                problem(ex, c, "the root element is <%s>; expected %s", cn,
                        join_names(p->elems, p->n_elems, true, buf, sizeof(buf)));
        else if (p->n_elems == 0)
                problem(ex, c,
                        "<%s> is not allowed in <%s>, which takes no child elements; "
                        "remove it",
                        cn, parent);
        else if (guess)
                problem(ex, c, "<%s> is not allowed in <%s>; did you mean <%s>?", cn, parent,
                        guess);
        else
                problem(ex, c, "<%s> is not allowed in <%s>; allowed there: %s", cn, parent,
                        join_names(p->elems, p->n_elems, true, buf, sizeof(buf)));
        return NULL;
}

static void explain_children(explainer *ex, const xmlNode *n, const pattern *p, unsigned depth) {
        const char *el = (const char *)n->name;
        unsigned count[PATTERN_MAX] = {};
        bool text_reported = false;
        char shown[64];

        /* Count first, so what the element lacks is said before what its children get wrong. */
        for (const xmlNode *c = n->children; c; c = c->next) {
                const pat_item *pe =
                        c->type == XML_ELEMENT_NODE && !c->ns
                                ? pattern_find(p->elems, p->n_elems, (const char *)c->name)
                                : NULL;
                if (pe)
                        count[pe - p->elems]++;
        }
        for (size_t i = 0; i < p->n_elems; i++)
                if (p->elems[i].required && count[i] == 0)
                        problem(ex, n, "<%s> has no <%s> element; add %s", el, p->elems[i].name,
                                p->elems[i].repeat ? "at least one" : "one");

        memset(count, 0, sizeof(count));
        for (const xmlNode *c = n->children; c; c = c->next) {
                if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
                        const char *t = (const char *)c->content;
                        if (p->text || text_reported || xmlIsBlankNode((xmlNode *)c))
                                continue;
                        text_reported = true;
                        problem(ex, c, "text \"%s\" is not allowed in <%s>; remove it",
                                shorten(t + strspn(t, " \t\r\n"), shown, sizeof(shown)), el);
                        continue;
                }
                if (c->type != XML_ELEMENT_NODE)
                        continue;
                const pat_item *pe = explain_child(ex, c, el, p);
                if (!pe)
                        continue;
                if (++count[pe - p->elems] == 2 && !pe->repeat)
                        problem(ex, c, "<%s> appears more than once in <%s>; keep only one",
                                pe->name, el);
                explain_element(ex, c, pe->def, depth + 1);
        }
}

static void explain_element(explainer *ex, const xmlNode *n, const xmlNode *def, unsigned depth) {
        pattern p = {};

        if (depth > EXPLAIN_DEPTH_MAX)
                return;
        collect(ex->grammar, def->children, true, false, &p, 0);
        explain_attrs(ex, n, &p);
        explain_children(ex, n, &p, depth);
}

static void explain(explainer *ex, xmlDoc *doc, xmlDoc *schema) {
        const xmlNode *root = xmlDocGetRootElement(doc), *start = NULL;
        pattern p = {};

        ex->grammar = xmlDocGetRootElement(schema);
        if (!root || !rng_is(ex->grammar, "grammar"))
                return;
        for (const xmlNode *c = ex->grammar->children; c; c = c->next)
                if (rng_is(c, "start"))
                        start = c;
        if (!start)
                return;
        collect(ex->grammar, start->children, true, false, &p, 0);
        const pat_item *pe = explain_child(ex, root, NULL, &p);
        if (pe)
                explain_element(ex, root, pe->def, 0);
}

/* libxml2's own validity messages, kept for when the explainer finds nothing to say. */
typedef struct valid_state {
        const char *name;
        lf_diag raw;
        long fallback_line;
} valid_state;

static void valid_error(void *userdata, xmlErrorPtr e) {
        valid_state *s = userdata;
        char msg[512];
        long line = e->node ? lf_xml_line(e->node) : e->line;

        lf_diag_add(&s->raw, s->name, line > 0 ? line : s->fallback_line,
                    "does not match the schema: %s", trim_message(e->message, msg, sizeof(msg)));
}

static void schema_error(void *userdata, xmlErrorPtr e) {
        valid_state *s = userdata;
        char msg[512];
        lf_diag_add(&s->raw, NULL, 0, "%s", trim_message(e->message, msg, sizeof(msg)));
}

int lf_xml_validate(const char *name, xmlDoc *doc, const char *schema, lf_diag *diag) {
        _cleanup_(xmlRelaxNGFreeParserCtxtp) xmlRelaxNGParserCtxtPtr pctxt = NULL;
        _cleanup_(xmlRelaxNGFreep) xmlRelaxNGPtr rng = NULL;
        _cleanup_(xmlRelaxNGFreeValidCtxtp) xmlRelaxNGValidCtxtPtr vctxt = NULL;
        valid_state s = {.name = name, .fallback_line = lf_xml_line(xmlDocGetRootElement(doc))};
        int r;

        pctxt = xmlRelaxNGNewMemParserCtxt(schema, (int)strlen(schema));
        if (!pctxt)
                return -ENOMEM;
        xmlRelaxNGSetParserStructuredErrors(pctxt, schema_error, &s);
        rng = xmlRelaxNGParse(pctxt);
        if (!rng) {
                /* A bug in labforge, not in the input. */
                lf_diag_add(diag, NULL, 0,
                            "internal error: the built-in schema does not compile: %s",
                            s.raw.n > 0 ? s.raw.msgs[0] : "unknown reason");
                lf_diag_clear(&s.raw);
                return -EINVAL;
        }
        vctxt = xmlRelaxNGNewValidCtxt(rng);
        if (!vctxt)
                return -ENOMEM;
        xmlRelaxNGSetValidStructuredErrors(vctxt, valid_error, &s);
        r = xmlRelaxNGValidateDoc(vctxt, doc);
        if (r == 0) {
                lf_diag_clear(&s.raw);
                return 0;
        }

        explainer ex = {.name = name, .diag = diag};
        _cleanup_xml_doc_ xmlDoc *sdoc =
                xmlReadMemory(schema, (int)strlen(schema), "schema", NULL,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (sdoc)
                explain(&ex, doc, sdoc);
        if (ex.found == 0) {
                for (size_t i = 0; i < s.raw.n; i++)
                        lf_diag_add(diag, NULL, 0, "%s", s.raw.msgs[i]);
                if (s.raw.n == 0)
                        lf_diag_add(diag, name, s.fallback_line, "does not match the schema");
        }
        lf_diag_clear(&s.raw);
        return -EINVAL;
}
