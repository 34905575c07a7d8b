import type { Tensor } from '../runtimes/tensor.js';

let nextSeq = 1;

/**
 * One client request as the batcher sees it: validated tensors in the model's input order.
 * All fields are set in the constructor, in the same order, so every instance has one shape.
 * Times are milliseconds from `performance.now()`.
 */
export class InferenceRequest {
  /** Process-unique integer id (the client's `id` string stays with the server). */
  readonly seq: number;
  readonly inputs: Tensor[];
  /** Rows along the batch dimension (1 when the model has none). */
  readonly rows: number;
  /** Absolute deadline in ms; Infinity when neither the client nor the model's queue policy set one. */
  readonly deadline: number;
  /** The deadline is the client's own `parameters.timeout`, not the model's default (serving-spec.ts). */
  deadlineIsClients = false;
  enqueuedAt: number;
  /**
   * Set by the batcher, for Triton's statistics (counted when the request succeeds, as Triton
   * counts them): ms queued, and its batch's input merge, worker round trip and output split.
   */
  queuedMs = 0;
  inputMs = 0;
  inferMs = 0;
  outputMs = 0;
  /** Set when the client went away: the request is dropped before batching. */
  cancelled: boolean;
  resolve: (outputs: Tensor[]) => void;
  reject: (err: Error) => void;

  constructor(inputs: Tensor[], rows: number, deadline = Infinity) {
    this.seq = nextSeq++;
    this.inputs = inputs;
    this.rows = rows;
    this.deadline = deadline;
    this.enqueuedAt = 0;
    this.cancelled = false;
    this.resolve = noop;
    this.reject = noop;
  }

  cancel(): void {
    this.cancelled = true;
  }

  /** Same non-batch dimensions on every input: the two can share a batch. */
  canBatchWith(other: InferenceRequest): boolean {
    for (let i = 0; i < this.inputs.length; i++) {
      const a = this.inputs[i].shape;
      const b = other.inputs[i].shape;
      if (a.length !== b.length) return false;
      for (let d = 1; d < a.length; d++) if (a[d] !== b[d]) return false;
    }
    return true;
  }
}

function noop(): void {}
