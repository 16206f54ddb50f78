/* libFuzzer target for the inventory reader: any input is either rejected with diagnostics or
 * read into an inventory whose JSON form reads back to the same JSON (and that has a text
 * form). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "json.h"

static char *inventory_string(const lf_inventory *inv) {
        _cleanup_json_ json_object *o = NULL;
        if (lf_inventory_to_json(inv, &o) < 0)
                abort();
        return lf_json_to_string(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        lf_diag d = {};
        _cleanup_inventory_ lf_inventory *inv = NULL, *again = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL, *text = NULL;
        int r;

        r = lf_inventory_load_buffer("fuzz.json", (const char *)data, size, &d, &inv);
        if (r < 0) {
                /* A rejected input always says why. */
                if (r == -EINVAL && d.n == 0)
                        abort();
                lf_diag_clear(&d);
                return 0;
        }
        a = inventory_string(inv);
        if (!a || lf_inventory_load_buffer("out.json", a, strlen(a), &d, &again) < 0)
                abort();
        b = inventory_string(again);
        if (!b || strcmp(a, b) != 0)
                abort();
        text = lf_inventory_to_text(inv);
        if (!text)
                abort();
        lf_diag_clear(&d);
        return 0;
}
