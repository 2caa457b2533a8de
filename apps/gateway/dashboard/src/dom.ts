/** The page's element `#id`, checked to be a `type` (the page is ours: anything else is a bug). */
export function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`#${id} is not a ${type.name}`);
  return found;
}

/** A status pill, coloured by dashboard.css after its data-status. */
export function badge(status: string): HTMLSpanElement {
  const span = document.createElement('span');
  span.className = 'badge';
  span.dataset['status'] = status;
  span.textContent = status;
  return span;
}

export function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

/** Calls `render` once in the next animation frame, however often it is asked for before then. */
export function frameScheduler(render: () => void): () => void {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      render();
    });
  };
}
