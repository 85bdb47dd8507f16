import type { FieldError } from './problem';
import { formatPath } from './problem';

/** Deeper than any card or activity Teams sends; deep enough to stop recursion in a parser or serializer later. */
export const MAX_JSON_DEPTH = 64;

/**
 * Keys that mean something to JavaScript objects. No field of any body is named so; a merge or a
 * schema library copying one onto a plain object could change its prototype.
 */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * The first reason a parsed JSON body is unfit to hand to code that recurses or merges: too deep,
 * or a prototype key. Walks with its own stack, so a hostile depth cannot overflow it.
 */
export function jsonShapeProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): FieldError | undefined {
  const stack: { value: unknown; path: readonly PropertyKey[] }[] = [{ value, path: [] }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (typeof item.value !== 'object' || item.value === null) continue;
    if (item.path.length >= maxDepth) return { path: formatPath(item.path), message: `nested deeper than ${maxDepth} levels` };
    if (Array.isArray(item.value)) {
      item.value.forEach((element: unknown, index) => stack.push({ value: element, path: [...item.path, index] }));
      continue;
    }
    for (const [key, element] of Object.entries(item.value)) {
      if (FORBIDDEN_KEYS.has(key)) return { path: formatPath([...item.path, key]), message: `"${key}" is not a field name this API takes` };
      stack.push({ value: element, path: [...item.path, key] });
    }
  }
  return undefined;
}
