// A virtualised log: every line is kept, only the rows in view are in the DOM, so 100,000 lines
// scroll and append as smoothly as 100. Rows have one fixed height (--row in dashboard.css).

const ROW = 20;
const OVERSCAN = 20;

export class LogView {
  /**
   * container: the scrolling element; spacer: its child sized to every row; onChange(info) after
   * each render with { shown, total, following }.
   */
  constructor(container, spacer, onChange) {
    this.container = container;
    this.spacer = spacer;
    this.onChange = onChange;
    /** Every line: { step, lineNo, stream, message }. */
    this.lines = [];
    /** Indices into `lines` that pass the filter (null: every line). */
    this.view = null;
    this.filter = { step: 'all', stream: 'all' };
    this.following = true;
    this.pool = [];
    this.scheduled = false;
    this.programmaticScroll = false;
    container.addEventListener('scroll', () => {
      if (this.programmaticScroll) {
        this.programmaticScroll = false;
      } else {
        const atBottom = container.scrollTop + container.clientHeight >= container.scrollHeight - ROW;
        if (atBottom !== this.following) this.following = atBottom;
      }
      this.schedule();
    });
    new ResizeObserver(() => this.schedule()).observe(container);
  }

  clear() {
    this.lines = [];
    this.view = null;
    this.following = true;
    this.container.scrollTop = 0;
    this.schedule();
  }

  matches(line) {
    return (this.filter.step === 'all' || line.step === this.filter.step) && (this.filter.stream === 'all' || line.stream === this.filter.stream);
  }

  append(line) {
    this.lines.push(line);
    if (this.view && this.matches(line)) this.view.push(this.lines.length - 1);
    this.schedule();
  }

  setFilter(filter) {
    this.filter = { ...this.filter, ...filter };
    const everything = this.filter.step === 'all' && this.filter.stream === 'all';
    this.view = everything ? null : [];
    if (!everything) this.lines.forEach((line, i) => this.matches(line) && this.view.push(i));
    this.schedule();
  }

  setFollowing(following) {
    this.following = following;
    this.schedule();
  }

  get shown() {
    return this.view ? this.view.length : this.lines.length;
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  render() {
    const count = this.shown;
    const height = count * ROW;
    if (this.spacer.style.height !== `${height}px`) this.spacer.style.height = `${height}px`;
    const { container } = this;
    if (this.following) {
      const bottom = Math.max(0, height - container.clientHeight);
      if (Math.abs(container.scrollTop - bottom) > 1) {
        this.programmaticScroll = true;
        container.scrollTop = bottom;
      }
    }
    const first = Math.max(0, Math.floor(container.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(count, Math.ceil((container.scrollTop + container.clientHeight) / ROW) + OVERSCAN);
    const needed = Math.max(0, last - first);
    while (this.pool.length < needed) {
      const row = document.createElement('div');
      row.className = 'log-row';
      const ln = document.createElement('span');
      ln.className = 'ln';
      const st = document.createElement('span');
      st.className = 'st';
      const msg = document.createElement('span');
      msg.className = 'msg';
      row.append(ln, st, msg);
      this.pool.push(row);
      this.spacer.append(row);
    }
    for (let i = 0; i < this.pool.length; i++) {
      const row = this.pool[i];
      if (i >= needed) {
        if (!row.hidden) row.hidden = true;
        continue;
      }
      const position = first + i;
      const index = this.view ? this.view[position] : position;
      const line = this.lines[index];
      row.hidden = false;
      row.style.transform = `translateY(${position * ROW}px)`;
      row.dataset.index = String(index);
      row.className = line.stream === 'stderr' ? 'log-row stderr' : 'log-row';
      row.children[0].textContent = `${line.step + 1}:${line.lineNo}`;
      row.children[1].textContent = line.stream === 'stderr' ? 'err' : 'out';
      row.children[2].textContent = line.message;
    }
    this.onChange({ shown: count, total: this.lines.length, following: this.following });
  }
}
