// cluster-key-slot ships no type declarations.
declare module 'cluster-key-slot' {
  /** Redis Cluster's hash slot (0–16383) of a key: CRC16 of its hash tag, or of the whole key without one. */
  function calculateSlot(key: string | Buffer): number;
  export = calculateSlot;
}
