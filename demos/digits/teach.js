/**
 * "Teach it your handwriting": the digits page's fine-tuning panel. app.js imports this module the first time
 * the user keeps an example, so a page that only predicts never downloads it (nor the runtime's training code,
 * which `model.fit` loads on its first call).
 *
 * The examples are 8x8 images (counts 0..16, as app.js computes them from the strokes) with the digit the user
 * said they drew. Fine-tuning runs `model.fit` on them in the page, on whatever backend the model runs on; the
 * bundle decides which layers train (demos/digits/train.py exports it with `train=dict(trainable="last 1")`).
 * Accuracy is measured on the same examples with `predict`, before and after.
 *
 * @example
 *   const { Teacher } = await import('./teach.js');
 *   const teacher = new Teacher(model, { exclusive: (work) => work() });
 *   teacher.add(7, pixels);                 // 64 counts 0..16
 *   const { before, after } = await teacher.fineTune();
 *   await teacher.save();                   // downloads digits.weights.safetensors
 */
const GRID = 8;
const PIXEL_MAX = 16;
const DIGITS = 10;
/** Enough steps for a few examples a digit to be learnt, few enough to take seconds on a software GPU. */
export const FINE_TUNE = { epochs: 30, batchSize: 16 };
export const WEIGHTS_FILE = 'digits.weights.safetensors';

const $ = (id) => document.getElementById(id);

export class Teacher {
  /**
   * @param {object} model the Model from loadModel; its bundle has a training section (model.canTrain)
   * @param {{exclusive: (work: () => Promise<any>) => Promise<any>}} page  `exclusive` runs `work` with the
   *   page's live predictions paused (the model is not shared mid-step), then predicts the drawing again.
   */
  constructor(model, page) {
    this.model = model;
    this.page = page;
    /** What tests and the curious read: examples, accuracy before/after the last fine-tuning, its losses. */
    this.state = { examples: [], before: null, after: null, losses: [], training: false, tuned: false,
      error: null };
    this.view = {
      summary: $('teach-summary'), list: $('examples'), status: $('train-status'), progress: $('train-progress'),
      before: $('accuracy-before'), after: $('accuracy-after'), fineTune: $('finetune'), save: $('save-weights'),
      reset: $('reset-weights'), forget: $('forget'),
    };
    const shown = () => {}; // the action showed its failure in the panel already
    this.view.fineTune.addEventListener('click', () => this.fineTune().catch(shown));
    this.view.save.addEventListener('click', () => this.save().catch(shown));
    this.view.reset.addEventListener('click', () => this.reset().catch(shown));
    this.view.forget.addEventListener('click', () => this.forget());
  }

  /** Keep `pixels` (64 counts 0..16) as an example of `digit`; returns the number of examples. */
  add(digit, pixels) {
    if (!Number.isInteger(digit) || digit < 0 || digit >= DIGITS) {
      throw new Error(`add: digit must be an integer 0..9, got ${digit}`);
    }
    if (pixels.length !== GRID * GRID) throw new Error(`add: expected ${GRID * GRID} pixels, got ${pixels.length}`);
    const example = { digit, pixels: Array.from(pixels) };
    this.state.examples.push(example);
    this.view.list.append(thumbnail(example));
    this.refresh();
    return this.state.examples.length;
  }

  forget() {
    this.state.examples = [];
    this.state.before = this.state.after = null;
    this.view.list.replaceChildren();
    this.view.status.textContent = '';
    this.refresh();
  }

  /**
   * Accuracy on the examples, then `model.fit` on them with live progress, then accuracy again.
   * Resolves to `{before, after, losses}`; each accuracy is `{correct, total, accuracy, probabilities}`.
   */
  async fineTune({ epochs = FINE_TUNE.epochs, batchSize = FINE_TUNE.batchSize } = {}) {
    const { examples } = this.state;
    if (!examples.length) throw new Error('fineTune: keep a few examples first');
    const x = Float32Array.from(examples.flatMap((e) => e.pixels), (v) => v / PIXEL_MAX);
    const y = Int32Array.from(examples, (e) => e.digit);
    const shape = [examples.length, GRID * GRID];
    this.state.training = true;
    this.state.error = null;
    this.view.status.classList.remove('error');
    this.refresh();
    const { status, progress } = this.view;
    status.setAttribute('aria-busy', 'true'); // announced once, when it ends
    progress.hidden = false;
    progress.max = epochs;
    progress.value = 0;
    try {
      await this.page.exclusive(async () => {
        this.state.before = await this.measure(x, shape);
        this.state.after = null;
        this.show();
        const losses = [];
        status.textContent = `Fine-tuning on ${examples.length} examples…`;
        await this.model.fit({ data: x, shape }, { data: y, shape: [examples.length] }, {
          epochs, batchSize: Math.min(batchSize, examples.length), shuffle: true,
          onEpochEnd: (epoch, logs) => {
            losses.push(logs.loss);
            progress.value = epoch + 1;
            status.textContent = `Epoch ${epoch + 1} of ${epochs} · loss ${logs.loss.toFixed(3)}`;
          },
        });
        this.state.losses = losses;
        this.state.after = await this.measure(x, shape);
        this.state.tuned = true;
        const [first, last] = [losses[0], losses.at(-1)].map((loss) => loss.toFixed(3));
        status.textContent = `Fine-tuned for ${epochs} epochs: loss ${first} → ${last}.`;
      });
    } catch (error) {
      throw this.fail(error);
    } finally {
      this.state.training = false;
      status.removeAttribute('aria-busy');
      progress.hidden = true;
      this.refresh();
      this.show();
    }
    return { before: this.state.before, after: this.state.after, losses: this.state.losses };
  }

  /** Download the current weights as safetensors (pyml's `model.load_weights` reads the file). */
  async save() {
    const bytes = await this.page.exclusive(() => this.model.saveWeights()).catch((error) => {
      throw this.fail(error);
    });
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    const link = Object.assign(document.createElement('a'), { href: url, download: WEIGHTS_FILE });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000); // the download has started by then
    this.view.status.textContent = `Saved ${WEIGHTS_FILE} (${bytes.length.toLocaleString()} bytes).`;
    return bytes;
  }

  /** Back to the weights the page loaded (and a fresh optimizer). */
  async reset() {
    await this.page.exclusive(() => this.model.resetWeights()).catch((error) => {
      throw this.fail(error);
    });
    this.state.after = null;
    this.state.tuned = false;
    this.state.losses = [];
    this.view.status.textContent = 'Back to the original weights.';
    this.refresh();
    this.show();
  }

  /** Predict every example: how many the model reads as the digit they were kept as. */
  async measure(x, shape) {
    const { data } = await this.model.predict(x, shape);
    const probabilities = [];
    let correct = 0;
    this.state.examples.forEach((example, i) => {
      const row = Array.from(data.subarray(i * DIGITS, (i + 1) * DIGITS));
      const guess = row.indexOf(Math.max(...row));
      example.guess = guess;
      correct += guess === example.digit;
      probabilities.push(row);
    });
    const total = this.state.examples.length;
    return { correct, total, accuracy: correct / total, probabilities };
  }

  show() {
    const text = (m) => (m ? `${m.correct} of ${m.total} (${Math.round(100 * m.accuracy)}%)` : '–');
    this.view.before.textContent = text(this.state.before);
    this.view.after.textContent = text(this.state.after);
    const latest = this.state.after || this.state.before;
    [...this.view.list.children].forEach((item, i) => {
      const example = this.state.examples[i];
      const known = latest && i < latest.total;
      item.classList.toggle('right', Boolean(known) && example.guess === example.digit);
      item.classList.toggle('wrong', Boolean(known) && example.guess !== example.digit);
      item.title = known ? `kept as ${example.digit}, read as ${example.guess}` : `kept as ${example.digit}`;
    });
  }

  refresh() {
    const { examples, training, tuned } = this.state;
    const counts = new Array(DIGITS).fill(0);
    examples.forEach((e) => { counts[e.digit] += 1; });
    for (const button of document.querySelectorAll('#teach .keep button')) {
      const digit = Number(button.dataset.digit);
      button.querySelector('.count').textContent = String(counts[digit]);
      button.setAttribute('aria-label', `${digit} (${counts[digit]} kept)`);
      button.disabled = training;
    }
    const digits = counts.filter(Boolean).length;
    this.view.summary.textContent = examples.length
      ? `${examples.length} example${examples.length === 1 ? '' : 's'} of ${digits} digit${digits === 1 ? '' : 's'}.`
      : 'No examples yet.';
    this.view.fineTune.disabled = training || !examples.length;
    this.view.forget.disabled = training || !examples.length;
    this.view.save.disabled = this.view.reset.disabled = training || !tuned;
  }

  /** An action failed: say so in the panel; returns `error` for the caller to rethrow (app.js's hooks get it). */
  fail(error) {
    this.state.error = error.message;
    this.view.status.textContent = `Failed: ${error.message}`;
    this.view.status.classList.add('error');
    return error;
  }
}

function thumbnail({ digit, pixels }) {
  const item = document.createElement('li');
  const canvas = Object.assign(document.createElement('canvas'), { width: GRID, height: GRID });
  const image = canvas.getContext('2d').createImageData(GRID, GRID);
  pixels.forEach((v, i) => {
    const level = Math.round((255 * v) / PIXEL_MAX);
    image.data.set([level, level, level, 255], i * 4);
  });
  canvas.getContext('2d').putImageData(image, 0, 0);
  canvas.setAttribute('aria-hidden', 'true');
  const label = Object.assign(document.createElement('span'), { textContent: String(digit) });
  item.append(canvas, label);
  item.setAttribute('aria-label', `an example of ${digit}`);
  return item;
}
