// Building blocks shared by every object schema. Validation covers only the fields weft reads;
// the object and its metadata are `looseObject`s so fields we do not know (other API versions,
// status written by other controllers, annotations) pass through untouched, the way kubectl
// keeps fields it has no schema for. Nested specs use plain objects, which drop unknown keys
// instead of failing, like the apiserver's pruning of structural CRD schemas.
import { isIP } from "node:net";
import { z } from "zod";

/** Separator between the cause and the fix inside a zod message (see `issueToProblem`). */
export const FIX_SEPARATOR = " — fix: ";

/** A zod error message that carries the fix for `issueToProblem` to split out. */
export function msg(cause: string, fix: string): string {
  return `${cause}${FIX_SEPARATOR}${fix}`;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const objectName = z
  .string({ error: msg("expected a name", "set a DNS-1123 name such as my-app") })
  .min(1, { error: msg("name is empty", "set a DNS-1123 name such as my-app") })
  .max(253, { error: msg("name is longer than 253 characters", "shorten it") })
  .regex(DNS1123_SUBDOMAIN, {
    error: msg(
      "not a DNS-1123 name",
      "use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
    ),
  });

export const namespaceName = z
  .string({ error: msg("expected a namespace name", "set a DNS-1123 label such as default") })
  .max(63, { error: msg("namespace name is longer than 63 characters", "shorten it") })
  .regex(DNS1123_LABEL, {
    error: msg(
      "not a DNS-1123 label",
      "use lowercase letters, digits and '-', starting and ending with a letter or digit",
    ),
  });

export const labels = z.record(
  z.string(),
  z.string({ error: msg("label values must be strings", 'quote the value, e.g. "true" or "8080"') }),
);

export const ipAddress = z.string().refine((s) => isIP(s) !== 0, {
  error: msg("not an IP address", "use an IPv4 address like 10.0.0.1 or an IPv6 address like fd00::1"),
});

/** An IP address or CIDR (`10.0.0.0/8`, `fd00::/64`, `10.1.2.3`). */
export const ipOrCidr = z.string().refine(isIpOrCidr, {
  error: msg(
    "not an IP address or CIDR",
    "use an address like 10.1.2.3 or a CIDR like 10.0.0.0/16 or fd00::/64",
  ),
});

export function isIpOrCidr(s: string): boolean {
  const slash = s.indexOf("/");
  if (slash < 0) return isIP(s) !== 0;
  const family = isIP(s.slice(0, slash));
  const bitsText = s.slice(slash + 1);
  if (family === 0 || !/^[0-9]{1,3}$/.test(bitsText)) return false;
  const bits = Number(bitsText);
  return bits <= (family === 4 ? 32 : 128);
}

export const portNumber = z
  .number({ error: msg("expected a port number", "use an integer from 1 to 65535") })
  .int({ error: msg("port is not an integer", "use an integer from 1 to 65535") })
  .min(1, { error: msg("port is below 1", "use an integer from 1 to 65535") })
  .max(65535, { error: msg("port is above 65535", "use an integer from 1 to 65535") });

/** Port given as a number or a numeric string, as Istio's AuthorizationPolicy accepts. */
export const portString = z
  .union([z.string(), z.number()], {
    error: msg("expected a port", 'use a port number such as 8080 or "8080"'),
  })
  .transform((v) => String(v))
  .refine((v) => /^[0-9]{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535, {
    error: msg("not a port number", 'use a port number from 1 to 65535, e.g. "8080"'),
  });

/** Gateway API duration: up to four `<n><unit>` parts, units h, m, s, ms (e.g. `1m30s`, `250ms`). */
export const duration = z.string().regex(/^([0-9]{1,5}(h|m|s|ms)){1,4}$/, {
  error: msg("not a duration", "write it like 250ms, 10s, 1m30s or 1h"),
});

export const percent = z
  .number({ error: msg("expected a percentage", "use a number from 0 to 100") })
  .min(0, { error: msg("percentage below 0", "use a number from 0 to 100") })
  .max(100, { error: msg("percentage above 100", "use a number from 0 to 100") });

export const nonNegativeInt = z
  .number({ error: msg("expected a number", "use a non-negative integer") })
  .int({ error: msg("not an integer", "use a non-negative integer") })
  .min(0, { error: msg("negative value", "use a non-negative integer") });

export const positiveInt = z
  .number({ error: msg("expected a number", "use a positive integer") })
  .int({ error: msg("not an integer", "use a positive integer") })
  .min(1, { error: msg("value below 1", "use a positive integer") });

/** Object metadata. `namespace` is read only for namespaced kinds (ignored otherwise, as the apiserver does). */
export const metadata = z.looseObject({
  name: objectName,
  namespace: namespaceName.optional(),
  uid: z.string().optional(),
  labels: labels.optional(),
  annotations: labels.optional(),
  creationTimestamp: z.string().nullable().optional(),
  deletionTimestamp: z.string().nullable().optional(),
});

export const labelSelector = z.object({
  matchLabels: labels.optional(),
});

/** Converts a Duration string (`1m30s`) to milliseconds. Input must have passed `duration`. */
export function durationToMs(d: string): number {
  let total = 0;
  for (const m of d.matchAll(/([0-9]+)(ms|h|m|s)/g)) {
    const n = Number(m[1]);
    switch (m[2]) {
      case "h":
        total += n * 3_600_000;
        break;
      case "m":
        total += n * 60_000;
        break;
      case "s":
        total += n * 1000;
        break;
      case "ms":
      case undefined:
        total += n;
    }
  }
  return total;
}
