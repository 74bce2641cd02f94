/** A viewer in its fanout's list, knowing its place there: -1 once it has left. */
export interface Slotted {
  slot: number;
}

/**
 * Takes a viewer out of its fanout's list in constant time: the last one moves into its place
 * (the list has no order). False if it had already left.
 */
export function removeFromSlots<T extends Slotted>(list: T[], item: T): boolean {
  if (item.slot === -1) return false;
  const last = list.pop()!;
  if (last !== item) {
    list[item.slot] = last;
    last.slot = item.slot;
  }
  item.slot = -1;
  return true;
}
