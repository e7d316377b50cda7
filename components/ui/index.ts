export { Badge, type BadgeTone } from './badge';
export { Button, buttonClasses, type ButtonProps, type ButtonSize, type ButtonVariant } from './button';
export { Card, CardBody, CardHeader } from './card';
export { cn } from './cn';
export { ConfirmDialog, Dialog } from './dialog';
export { Field, Input, Label, Select, Textarea } from './field';
export { ProgressBar } from './progress';
export { Spinner } from './spinner';
export { EmptyState, ErrorState } from './states';
